"""The second step of a login to an account with two-factor login on."""

from __future__ import annotations

from fastapi import APIRouter
from mangum import Mangum

from lib.app import TokenEndpointRoute, create_app
from lib.deps import Client, Session
from lib.mfa.login import complete_mfa_login
from lib.mfa.schemas import MfaLoginRequest
from lib.sessions.schemas import TokenResponse

router = APIRouter(tags=["auth"], route_class=TokenEndpointRoute)


@router.post("/api/v1/login/mfa", response_model=TokenResponse)
async def login_mfa(session: Session, data: MfaLoginRequest, client: Client) -> TokenResponse:
    """Exchange the `mfa_token` of a login with a TOTP or recovery code for a token pair."""
    pair = await complete_mfa_login(session, mfa_token=data.mfa_token, code=data.code, client=client)
    return TokenResponse.from_pair(pair)


app = create_app(router)
handler = Mangum(app, lifespan="off")
