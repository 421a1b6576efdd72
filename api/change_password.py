"""Change the signed-in user's password."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from mangum import Mangum

from lib.accounts import passwords
from lib.app import create_app
from lib.deps import Client, CurrentPrincipal, Session
from lib.errors import InvalidPassword, TooManyRequests
from lib.oauth.transport import Transport
from lib.openapi import raises
from lib.sessions.schemas import TokenResponse
from lib.users.schemas import ChangePasswordRequest

router = APIRouter(tags=["user"])


@router.post("/api/v1/user/me/password", response_model=TokenResponse)
@raises(InvalidPassword, TooManyRequests)
async def change_password(
    session: Session, caller: CurrentPrincipal, data: ChangePasswordRequest, client: Client, transport: Transport
) -> TokenResponse | JSONResponse:
    """Change the password: every session ends and a fresh token pair starts a new one, with
    the factors (`amr`) the caller's session passed."""
    pair = await passwords.change_password(session, user=caller.user, data=data, client=client, amr=caller.amr)
    return transport.respond(pair)


app = create_app(router)
handler = Mangum(app, lifespan="off")
