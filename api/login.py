"""The OAuth 2.0 token endpoint: log in with a password, or exchange a refresh token."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from mangum import Mangum

from lib.app import create_app
from lib.deps import Client, Session
from lib.errors import (
    EmailNotVerified,
    InvalidCredentials,
    InvalidToken,
    MfaRequired,
    RefreshTokenReused,
    TokenExpired,
    TokenRevoked,
    TooManyRequests,
)
from lib.oauth.endpoint import TokenEndpointRoute
from lib.oauth.forms import LOGIN_OPENAPI, TokenRequest
from lib.oauth.grants import exchange_grant
from lib.oauth.transport import Transport
from lib.openapi import raises
from lib.security import passwords  # noqa: F401  (the hasher loads at init, not on the first login)
from lib.sessions.schemas import TokenResponse

router = APIRouter(tags=["auth"], route_class=TokenEndpointRoute)


@router.post("/api/v1/login", response_model=TokenResponse, openapi_extra=LOGIN_OPENAPI)
@raises(
    InvalidCredentials,
    EmailNotVerified,
    MfaRequired,
    TooManyRequests,
    InvalidToken,
    TokenExpired,
    TokenRevoked,
    RefreshTokenReused,
)
async def login(
    session: Session, grant: TokenRequest, client: Client, transport: Transport
) -> TokenResponse | JSONResponse:
    """Token request (RFC 6749): `grant_type=password` (the default) or `grant_type=refresh_token`."""
    pair = await exchange_grant(session, grant=grant, client=client)
    return transport.respond(pair)


app = create_app(router)
handler = Mangum(app, lifespan="off")
