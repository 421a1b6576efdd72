"""Set a new password with the token from a reset link."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from mangum import Mangum

from lib.accounts import passwords
from lib.accounts.schemas import ResetPasswordRequest
from lib.app import create_app
from lib.deps import Session
from lib.errors import EmailTokenExpired, EmailTokenInvalid, EmailTokenUsed
from lib.openapi import raises

router = APIRouter(tags=["auth"])


@router.post("/api/v1/reset-password", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
@raises(EmailTokenInvalid, EmailTokenExpired, EmailTokenUsed)
async def reset_password(session: Session, data: ResetPasswordRequest) -> None:
    """Reset the password with an emailed token; every session is signed out."""
    await passwords.reset_password(session, token=data.token, new_password=data.new_password)


app = create_app(router)
handler = Mangum(app, lifespan="off")
