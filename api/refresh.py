"""Exchange a refresh token for a new pair (rotation with reuse detection)."""

from __future__ import annotations

from fastapi import APIRouter
from mangum import Mangum

from lib.app import TokenEndpointRoute, create_app
from lib.deps import Session
from lib.errors import EmailNotVerified, InvalidToken, RefreshTokenReused, TokenExpired, TokenRevoked
from lib.openapi import raises
from lib.sessions import service
from lib.sessions.schemas import RefreshRequest, TokenResponse

router = APIRouter(tags=["auth"], route_class=TokenEndpointRoute)


@router.post("/api/v1/refresh", response_model=TokenResponse)
@raises(InvalidToken, TokenExpired, TokenRevoked, RefreshTokenReused, EmailNotVerified)
async def refresh(session: Session, body: RefreshRequest) -> TokenResponse:
    """Rotate a refresh token: the presented token is consumed and a new pair issued."""
    pair = await service.rotate_refresh_token(session, presented=body.refresh_token)
    return TokenResponse.from_pair(pair)


app = create_app(router)
handler = Mangum(app, lifespan="off")
