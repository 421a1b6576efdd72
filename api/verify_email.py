"""Confirm an email address with the token from a verification link, or ask for a new link."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response, status
from mangum import Mangum

from lib.accounts import verification
from lib.accounts.schemas import Accepted, ResendVerificationRequest, VerifyEmailRequest
from lib.app import create_app
from lib.deps import Client, OptionalPrincipal, Session
from lib.errors import EmailTokenExpired, EmailTokenInvalid, EmailTokenUsed, TooManyRequests, Unauthorized
from lib.openapi import raises

router = APIRouter(tags=["auth"])

ResendBody = Annotated[ResendVerificationRequest | None, Body()]
# The same answer whether or not the address has an unverified account.
LINK_SENT_IF_UNVERIFIED = "If an unverified account uses this address, a new verification link has been sent to it."


@router.post("/api/v1/verify-email", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
@raises(EmailTokenInvalid, EmailTokenExpired, EmailTokenUsed)
async def verify_email(session: Session, data: VerifyEmailRequest) -> None:
    """Confirm the email address with an emailed token."""
    await verification.verify_email(session, token=data.token)


@router.post("/api/v1/verify-email/resend", response_model=Accepted, status_code=status.HTTP_202_ACCEPTED)
@raises(Unauthorized, TooManyRequests)
async def resend_verification(
    session: Session, principal: OptionalPrincipal, client: Client, data: ResendBody = None
) -> Accepted:
    """Send a new verification link: to the signed-in user, or to `{"email"}` without a token."""
    if principal is None:
        if data is None:
            raise Unauthorized()
        await verification.resend_verification_to_address(session, email=data.email, ip_address=client.ip_address)
        return Accepted(detail=LINK_SENT_IF_UNVERIFIED)
    if await verification.resend_verification_email(session, user=principal.user):
        return Accepted(detail="A new verification link has been sent to your email address.")
    return Accepted(detail="Your email address is already verified.")


app = create_app(router)
handler = Mangum(app, lifespan="off")
