"""Confirm an email address with the token from a verification link, or ask for a new link."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from mangum import Mangum

from lib.accounts import verification
from lib.accounts.schemas import Accepted, VerifyEmailRequest
from lib.app import create_app
from lib.deps import CurrentUser, Session

router = APIRouter(tags=["auth"])


@router.post("/api/v1/verify-email", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def verify_email(session: Session, data: VerifyEmailRequest) -> None:
    """Confirm the email address with an emailed token."""
    await verification.verify_email(session, token=data.token)


@router.post("/api/v1/verify-email/resend", response_model=Accepted, status_code=status.HTTP_202_ACCEPTED)
async def resend_verification(session: Session, user: CurrentUser) -> Accepted:
    """Send a new verification link to the signed-in user (no email when already verified)."""
    if await verification.resend_verification_email(session, user=user):
        return Accepted(detail="A new verification link has been sent to your email address.")
    return Accepted(detail="Your email address is already verified.")


app = create_app(router)
handler = Mangum(app, lifespan="off")
