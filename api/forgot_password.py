"""Ask for a password-reset link by email."""

from __future__ import annotations

from fastapi import APIRouter, status
from mangum import Mangum

from lib.accounts import passwords
from lib.accounts.schemas import Accepted, ForgotPasswordRequest
from lib.app import create_app
from lib.deps import Client, Session
from lib.errors import TooManyRequests
from lib.openapi import raises

router = APIRouter(tags=["auth"])

# The same answer whether or not the address has an account, so it tells no one who does.
RESET_LINK_REQUESTED = "If an account uses this address, a link to reset its password has been sent to it."


@router.post("/api/v1/forgot-password", response_model=Accepted, status_code=status.HTTP_202_ACCEPTED)
@raises(TooManyRequests)
async def forgot_password(session: Session, data: ForgotPasswordRequest, client: Client) -> Accepted:
    """Ask for a password-reset link (the same answer whether or not the account exists)."""
    await passwords.request_password_reset(session, email=data.email, ip_address=client.ip_address)
    return Accepted(detail=RESET_LINK_REQUESTED)


app = create_app(router)
handler = Mangum(app, lifespan="off")
