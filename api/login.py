"""Log in with an email or username and a password."""

from __future__ import annotations

from fastapi import APIRouter
from mangum import Mangum

from lib.app import create_app
from lib.deps import Client, Session
from lib.security import passwords  # noqa: F401  (the hasher loads at init, not on the first login)
from lib.sessions import service
from lib.sessions.forms import LOGIN_OPENAPI, LoginCredentials
from lib.sessions.schemas import TokenResponse

router = APIRouter(tags=["auth"])


@router.post("/api/v1/login", response_model=TokenResponse, openapi_extra=LOGIN_OPENAPI)
async def login(session: Session, credentials: LoginCredentials, client: Client) -> TokenResponse:
    """Log in (OAuth2 password form or JSON) and receive a token pair."""
    pair = await service.login(session, identifier=credentials.username, password=credentials.password, client=client)
    return TokenResponse.from_pair(pair)


app = create_app(router)
handler = Mangum(app, lifespan="off")
