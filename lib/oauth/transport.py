"""Browser sessions: the refresh token in an HttpOnly cookie instead of the JSON body.

A token request that sends `X-Refresh-Token-Transport: cookie` gets the refresh token as a
cookie that script cannot read, and a body without it. The cookie is `__Host-` prefixed: the
browser accepts it only from this host, `Secure`, with `Path=/` and no `Domain`, so no sibling
subdomain can plant one (a request that carries two is refused). With `SameSite=None` (a page on
another site) it is also `Partitioned` (CHIPS), when set and when cleared, so that browsers
blocking third-party cookies keep it for that page's site. A refresh without a body reads it,
but only when the request proves it comes from an allowed page: the custom header, which a
cross-site form cannot send and which makes a cross-origin fetch ask CORS first, and an
`Origin` (when the browser sends one) that is the API's own or listed in `CORS_ORIGINS`.

The former cookie, `__Secure-refresh_token` with `Path=/api/v1`, is still read when it comes
alone (once, and only with a token issued before the rename), and cleared (with its own path)
whenever the new one is set or cleared; beside a `__Host-` cookie it is ignored. So the rename
signs nobody out.

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
COOKIE_NAME = "__Host-refresh_token"
COOKIE_PATH = "/"
LEGACY_COOKIE_NAME = "__Secure-refresh_token"
LEGACY_COOKIE_PATH = "/api/v1"


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


def _set_cookie(response: Response, name: str, value: str, *, max_age: int, path: str, partitioned: bool) -> None:
    samesite = get_settings().REFRESH_COOKIE_SAMESITE
    response.set_cookie(name, value, max_age=max_age, path=path, secure=True, httponly=True, samesite=samesite)
    if partitioned:
        # CHIPS. Starlette's `partitioned=` needs the `http.cookies` of Python 3.14.
        header, cookie = response.raw_headers[-1]
        response.raw_headers[-1] = (header, cookie + b"; Partitioned")


def _set_refresh_cookie(response: Response, value: str, max_age: int) -> None:
    partitioned = get_settings().REFRESH_COOKIE_SAMESITE == "none"
    _set_cookie(response, COOKIE_NAME, value, max_age=max_age, path=COOKIE_PATH, partitioned=partitioned)


def _cookie_count(request: Request, name: str) -> int:
    """How many cookies named `name` the request carries (`request.cookies` keeps the last)."""
    return sum(
        chunk.split("=", 1)[0].strip() == name
        for header in request.headers.getlist("cookie")
        for chunk in header.split(";")
    )


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
        _set_refresh_cookie(response, pair.refresh_token, get_settings().REFRESH_TOKEN_EXPIRE_DAYS * 86400)
        self._clear_legacy_cookie(response)
        return response

    def clear_cookies(self, response: Response) -> None:
        """Expire the cookie (same name, path and attributes, Max-Age=0), and the former one."""
        _set_refresh_cookie(response, "", 0)
        self._clear_legacy_cookie(response)

    def _clear_legacy_cookie(self, response: Response) -> None:
        if LEGACY_COOKIE_NAME in self.request.cookies:  # never partitioned: set before CHIPS was
            _set_cookie(response, LEGACY_COOKIE_NAME, "", max_age=0, path=LEGACY_COOKIE_PATH, partitioned=False)

    def _cookie_token(self) -> str | None:
        """The `__Host-` cookie's token, else the former cookie's when it came alone and holds a
        token issued before the rename (those carry no `client_id`): one that a sibling subdomain
        planted with a token of its own, issued since, is not read."""
        if COOKIE_NAME in self.request.cookies:
            return self.request.cookies[COOKIE_NAME]
        legacy = self.request.cookies.get(LEGACY_COOKIE_NAME)
        if not legacy:
            return None
        try:
            claims = decode_token(legacy, "refresh")
        except InvalidToken:
            return legacy  # refused as such by the refresh
        return None if "client_id" in claims else legacy

    def presented_refresh_token(self, body: RefreshRequest | None) -> str:
        """The token in the body, or else the cookie's, which needs the CSRF checks to pass."""
        if body is not None:
            return body.refresh_token
        if not self.cookie:
            raise CsrfFailed()
        origin = self.request.headers.get("origin")
        if origin is not None and origin not in get_settings().CORS_ORIGINS and not _same_origin(self.request, origin):
            raise CsrfFailed(f"Origin {origin[:200]!r} may not use the refresh cookie: it is not in CORS_ORIGINS")
        read = COOKIE_NAME if COOKIE_NAME in self.request.cookies else LEGACY_COOKIE_NAME
        if _cookie_count(self.request, read) > 1:
            raise CsrfFailed(f"The request carries more than one {read} cookie; sign in again")
        token = self._cookie_token()
        if not token:
            raise Unauthorized("No refresh token: send it in the body, or sign in again to get the refresh cookie")
        return token

    def clears_cookie(self) -> bool:
        """Whether an answer that ends the session should clear the cookie: the caller uses it."""
        return self.cookie or COOKIE_NAME in self.request.cookies or LEGACY_COOKIE_NAME in self.request.cookies

    def cookie_session(self) -> uuid.UUID | None:
        """The session of the refresh token in the cookie, or None when it holds none of ours."""
        if _cookie_count(self.request, COOKIE_NAME) > 1:
            return None
        try:
            return uuid_claim(decode_token(self._cookie_token() or "", "refresh"), "sid")
        except InvalidToken:
            return None


Transport = Annotated[TokenTransport, Depends(TokenTransport)]


def session_ended_response(transport: TokenTransport, status_code: int) -> Response:
    """An empty answer to a request that ended the caller's sessions, clearing the cookie of a
    browser caller."""
    response = Response(status_code=status_code)
    if transport.clears_cookie():
        transport.clear_cookies(response)
    return response


def revocation_response(transport: TokenTransport, revoked: uuid.UUID | None) -> Response:
    """200 to a revocation, clearing the cookie of a browser caller only when it held a token of
    the session `revoked` (or none that still works): revoking another device's session leaves
    this browser signed in."""
    response = Response(status_code=200)
    if transport.clears_cookie() and transport.cookie_session() in (None, revoked):
        transport.clear_cookies(response)
    return response
