"""Proving that an account's owner reads its email address: the link sent at sign-up,
again on request, and its confirmation."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.accounts.links import (
    consume_email_token,
    find_email_token_user,
    queue_link_email,
    retire_email_tokens,
    seconds_until_next_email,
)
from lib.config import get_settings
from lib.email.outbox import publish_in_any_case
from lib.errors import EmailTokenInvalid, TooManyRequests
from lib.events.record import record_event
from lib.models import EmailTokenPurpose, SecurityEventType, User
from lib.security.throttle import address_limits, reserve_attempt
from lib.users.rows import lock_user

VERIFY = EmailTokenPurpose.VERIFY_EMAIL


def send_verification_email(session: AsyncSession, *, user: User) -> None:
    """Email the user a fresh verification link, after the answer (see `queue_link_email`)."""
    settings = get_settings()
    queue_link_email(
        session,
        user=user,
        purpose=VERIFY,
        lifetime=timedelta(hours=settings.VERIFY_TOKEN_EXPIRE_HOURS),
        subject=f"Confirm your email address for {settings.APP_NAME}",
    )


async def resend_verification_email(session: AsyncSession, *, user: User) -> bool:
    """Send a new link unless the address is already verified (then False, and no email).

    At most one email per `EMAIL_THROTTLE_SECONDS` (the sign-up email counts): 429 with
    `Retry-After` otherwise. The user's row is locked so that concurrent requests queue.
    """
    locked = await lock_user(session, user_id=user.id)
    if locked is None or locked.is_verified:
        return False
    wait = await seconds_until_next_email(session, user_id=locked.id, purpose=VERIFY)
    if wait:
        raise TooManyRequests(wait, "A verification email was sent recently; try again later")
    send_verification_email(session, user=locked)
    return True


async def resend_verification_to_address(session: AsyncSession, *, email: str, ip_address: str | None) -> None:
    """Send a new link to `email` when it names an active, unverified account and none was sent
    within `EMAIL_THROTTLE_SECONDS`; otherwise do nothing that shows. Each client address may
    ask `VERIFY_RESEND_MAX_PER_IP` times per `ADDRESS_LIMIT_WINDOW_SECONDS` (429 beyond)."""
    await reserve_attempt(
        session,
        address_limits("verify-resend", ip_address=ip_address, limit=get_settings().VERIFY_RESEND_MAX_PER_IP),
        message="Too many verification requests from this address; try again later",
    )
    publish_in_any_case(session)  # on a queue, the same work for any address
    user_id = (await session.execute(select(col(User.id)).where(col(User.email) == email.lower()))).scalar()
    user = await lock_user(session, user_id=user_id or uuid.uuid4())  # the same queries for an unknown address
    if user is None or not user.is_active or user.is_verified:
        return
    if not await seconds_until_next_email(session, user_id=user.id, purpose=VERIFY):
        send_verification_email(session, user=user)


async def verify_email(session: AsyncSession, *, token: str) -> None:
    """Mark the token's account verified; 400 when the token is invalid, expired or used."""
    user_id = await find_email_token_user(session, token=token, purpose=VERIFY)
    user = await lock_user(session, user_id=user_id)
    if user is None or not user.is_active:
        raise EmailTokenInvalid()
    await consume_email_token(session, token=token, purpose=VERIFY)
    user.is_verified = True
    await retire_email_tokens(session, user_id=user.id, purpose=VERIFY)
    await record_event(session, type=SecurityEventType.EMAIL_VERIFIED, user_id=user.id)
