"""The second step of a login to an account with two-factor login on."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from mangum import Mangum

from lib.app import create_app
from lib.deps import Client, Session
from lib.errors import EmailNotVerified, InvalidMfaCode, InvalidToken, MfaUnavailable, TooManyRequests
from lib.mfa.login import complete_mfa_login
from lib.mfa.schemas import MfaLoginRequest
from lib.oauth.endpoint import TokenEndpointRoute
from lib.oauth.transport import Transport
from lib.openapi import raises
from lib.sessions.schemas import TokenResponse

router = APIRouter(tags=["auth"], route_class=TokenEndpointRoute)


@router.post("/api/v1/login/mfa", response_model=TokenResponse)
@raises(InvalidToken, InvalidMfaCode, EmailNotVerified, TooManyRequests, MfaUnavailable)
async def login_mfa(
    session: Session, data: MfaLoginRequest, client: Client, transport: Transport
) -> TokenResponse | JSONResponse:
    """Exchange the `mfa_token` of a login with a TOTP or recovery code for a token pair."""
    pair = await complete_mfa_login(session, mfa_token=data.mfa_token, code=data.code, client=client)
    return transport.respond(pair)


app = create_app(router)
handler = Mangum(app, lifespan="off")
