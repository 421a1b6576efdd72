"""Browser sessions: the refresh token in an HttpOnly cookie instead of the JSON body.

A token request that sends `X-Refresh-Token-Transport: cookie` gets the refresh token as a
cookie that script cannot read, and a body without it. The cookie is `__Secure-` prefixed
(the browser accepts it only with `Secure`; `__Host-` would forbid `Path=/api/v1`), HttpOnly,
and scoped to the API's paths. A refresh without a body reads it, but only when the request
proves it comes from an allowed page: the custom header, which a cross-site form cannot send
and which makes a cross-origin fetch ask CORS first, and an `Origin` (when the browser sends
one) that is the API's own or listed in `CORS_ORIGINS`.

A failed refresh never clears the cookie: the browser may already hold a newer one (another
tab's rotation or a new login) that the failed request did not carry.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.responses import Response

from lib.config import get_settings
from lib.errors import CsrfFailed, InvalidRequest, InvalidToken, Unauthorized
from lib.openapi import raises
from lib.security.tokens import decode_token, uuid_claim
from lib.sessions.schemas import RefreshRequest, TokenPair, TokenResponse

TRANSPORT_HEADER = "X-Refresh-Token-Transport"
COOKIE_TRANSPORT = "cookie"
COOKIE_NAME = "__Secure-refresh_token"
COOKIE_PATH = "/api/v1"


class BrowserTokenResponse(BaseModel):
    """A token answer whose refresh token went into the cookie."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: int


def _same_origin(request: Request, origin: str) -> bool:
    """The page the API serves itself (the demo page): the Origin names this request's host.
    Behind a proxy that ends TLS the request may look like http, so https is accepted too."""
    scheme, _, host = origin.partition("://")
    return host == request.headers.get("host") and scheme in {request.url.scheme, "https"}


def _set_cookie(response: Response, value: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite=get_settings().REFRESH_COOKIE_SAMESITE,
    )


def clear_refresh_cookie(response: Response) -> None:
    """Expire the cookie (same name, path and attributes, Max-Age=0)."""
    _set_cookie(response, "", 0)


@raises(InvalidRequest)
class TokenTransport:
    """Where a token request wants its refresh token: in the body (API clients) or in the cookie."""

    def __init__(self, request: Request) -> None:
        self.request = request
        value = request.headers.get(TRANSPORT_HEADER)
        if value is not None and value.strip().lower() != COOKIE_TRANSPORT:
            raise InvalidRequest(f"{TRANSPORT_HEADER} must be {COOKIE_TRANSPORT!r}, not {value[:40]!r}")
        self.cookie = value is not None

    def respond(self, pair: TokenPair) -> TokenResponse | JSONResponse:
        """The token answer, with the route's success status."""
        if not self.cookie:
            return TokenResponse.from_pair(pair)
        status_code = getattr(self.request.scope.get("route"), "status_code", None) or 200
        body = BrowserTokenResponse(access_token=pair.access_token, expires_in=pair.expires_in)
        response = JSONResponse(body.model_dump(), status_code=status_code)
        _set_cookie(response, pair.refresh_token, get_settings().REFRESH_TOKEN_EXPIRE_DAYS * 86400)
        return response

    def presented_refresh_token(self, body: RefreshRequest | None) -> str:
        """The token in the body, or else the cookie's, which needs the CSRF checks to pass."""
        if body is not None:
            return body.refresh_token
        if not self.cookie:
            raise CsrfFailed()
        origin = self.request.headers.get("origin")
        if origin is not None and origin not in get_settings().CORS_ORIGINS and not _same_origin(self.request, origin):
            raise CsrfFailed(f"Origin {origin[:200]!r} may not use the refresh cookie: it is not in CORS_ORIGINS")
        token = self.request.cookies.get(COOKIE_NAME)
        if not token:
            raise Unauthorized("No refresh token: send it in the body, or sign in again to get the refresh cookie")
        return token

    def clears_cookie(self) -> bool:
        """Whether an answer that ends the session should clear the cookie: the caller uses it."""
        return self.cookie or COOKIE_NAME in self.request.cookies

    def cookie_session(self) -> uuid.UUID | None:
        """The session of the refresh token in the cookie, or None when it holds none of ours."""
        try:
            return uuid_claim(decode_token(self.request.cookies.get(COOKIE_NAME, ""), "refresh"), "sid")
        except InvalidToken:
            return None


Transport = Annotated[TokenTransport, Depends(TokenTransport)]


def session_ended_response(transport: TokenTransport, status_code: int) -> Response:
    """An empty answer to a request that ended the caller's sessions, clearing the cookie of a
    browser caller."""
    response = Response(status_code=status_code)
    if transport.clears_cookie():
        clear_refresh_cookie(response)
    return response


def revocation_response(transport: TokenTransport, revoked: uuid.UUID | None) -> Response:
    """200 to a revocation, clearing the cookie of a browser caller only when it held a token of
    the session `revoked` (or none that still works): revoking another device's session leaves
    this browser signed in."""
    response = Response(status_code=200)
    if transport.clears_cookie() and transport.cookie_session() in (None, revoked):
        clear_refresh_cookie(response)
    return response
