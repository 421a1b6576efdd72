"""How the errors of an OAuth 2.0 token request answer (RFC 6749 5.2).

A request to the token endpoint that names its `grant_type` is a standard client's: a refused
grant (a wrong password, an unknown or inactive account, a bad, used or revoked refresh token)
answers 400 `invalid_grant` with no `WWW-Authenticate` (a Bearer challenge is a resource
server's, RFC 6750, and clients such as oauth4webapi read one as such and never see the
`error`). A request without `grant_type` (this service's own form and JSON) keeps its 401.
"""

from __future__ import annotations

from starlette.requests import Request

_SCOPE_KEY = "auth.grant_request"


def mark_grant_request(request: Request) -> None:
    """The request's parser found a `grant_type`: its errors answer as RFC 6749 5.2 says."""
    request.scope[_SCOPE_KEY] = True


def grant_error(request: Request, status_code: int, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    """The status and headers an error answers with: a refused grant's 401 becomes 400, without
    its Bearer challenge, when the request was a standard token request."""
    if status_code != 401 or not request.scope.get(_SCOPE_KEY):
        return status_code, headers
    return 400, {name: value for name, value in headers.items() if name.lower() != "www-authenticate"}
