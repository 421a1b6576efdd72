"""Exchange a refresh token for a new pair (rotation with reuse detection)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from mangum import Mangum

from lib.app import create_app
from lib.deps import Session
from lib.errors import (
    CsrfFailed,
    EmailNotVerified,
    InvalidToken,
    RefreshTokenReused,
    TokenExpired,
    TokenRevoked,
    Unauthorized,
)
from lib.oauth.endpoint import TokenEndpointRoute
from lib.oauth.transport import Transport
from lib.openapi import raises
from lib.sessions.rotation import rotate_refresh_token
from lib.sessions.schemas import RefreshRequest, TokenResponse

router = APIRouter(tags=["auth"], route_class=TokenEndpointRoute)


@router.post("/api/v1/refresh", response_model=TokenResponse)
@raises(InvalidToken, TokenExpired, TokenRevoked, RefreshTokenReused, EmailNotVerified, CsrfFailed, Unauthorized)
async def refresh(
    session: Session, transport: Transport, body: RefreshRequest | None = None
) -> TokenResponse | JSONResponse:
    """Rotate a refresh token (from the body, or with no body from the refresh cookie): the
    presented token is consumed and a new pair issued."""
    presented = transport.presented_refresh_token(body)
    pair = await rotate_refresh_token(session, presented=presented)
    return transport.respond(pair)


app = create_app(router)
handler = Mangum(app, lifespan="off")
