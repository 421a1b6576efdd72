"""Password recovery by email: asking for a reset link, setting the new password with it,
and the notice that a password was changed."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.accounts.email_tokens import (
    consume_email_token,
    describe_duration,
    discard_email_token,
    email_link,
    issue_email_token,
    retire_email_tokens,
    seconds_until_next_email,
)
from lib.config import get_settings
from lib.email import Email, send_email
from lib.errors import EmailTokenInvalid
from lib.log import log_event
from lib.models import EmailTokenPurpose, User, utcnow
from lib.security.digest import new_opaque_token, token_digest
from lib.security.password_policy import require_acceptable_password
from lib.security.passwords import hash_password
from lib.sessions.tokens import revoke_user_sessions

RESET = EmailTokenPurpose.RESET_PASSWORD


async def request_password_reset(session: AsyncSession, *, email: str) -> None:
    """Email a reset link when `email` names an active account, at most once per
    `EMAIL_THROTTLE_SECONDS`; otherwise do nothing that shows.

    The caller answers alike in every case. For an unknown or inactive address the
    same queries run and a token is made and hashed, so that only sending the email
    itself takes longer for a real account.
    """
    user = (
        await session.execute(select(User).where(col(User.email) == email.lower()).with_for_update())
    ).scalar_one_or_none()
    if user is None or not user.is_active:
        await seconds_until_next_email(session, user_id=uuid.uuid4(), purpose=RESET)
        token_digest(new_opaque_token())
        return
    if await seconds_until_next_email(session, user_id=user.id, purpose=RESET):
        return
    settings = get_settings()
    lifetime = timedelta(minutes=settings.RESET_TOKEN_EXPIRE_MINUTES)
    issued = issue_email_token(session, user_id=user.id, purpose=RESET, lifetime=lifetime)
    await session.flush()
    sent = await send_email(
        Email(
            to=user.email,
            subject=f"Reset your {settings.APP_NAME} password",
            template="reset_password",
            context={
                "first_name": user.first_name,
                "link": email_link("reset-password", issued.token),
                "expires_in": describe_duration(lifetime),
            },
        )
    )
    if sent:
        await retire_email_tokens(session, user_id=user.id, purpose=RESET, keep=issued.id)
    else:
        await discard_email_token(session, token_id=issued.id)


async def reset_password(session: AsyncSession, *, token: str, new_password: str) -> None:
    """Set a new password with a reset token; 400 when the token is invalid, expired or used.

    Every session of the user is revoked (so earlier access and refresh tokens stop
    working), every other reset link dies, and the address counts as verified, since
    the link reached its owner. A notice is emailed afterwards.
    """
    user_id = await consume_email_token(session, token=token, purpose=RESET)
    user = await session.get(User, user_id, with_for_update=True)
    if user is None or not user.is_active:
        raise EmailTokenInvalid()
    require_acceptable_password(new_password, email=user.email, username=user.username)
    user.hashed_password = await hash_password(new_password)
    user.is_verified = True
    await retire_email_tokens(session, user_id=user.id, purpose=RESET)
    await revoke_user_sessions(session, user_id=user.id)
    await session.flush()
    log_event("password_changed", user_id=user.id, via="reset")
    await send_password_changed_notice(user)


async def send_password_changed_notice(user: User) -> bool:
    """Tell the owner that the password changed, in case it was not them."""
    settings = get_settings()
    changed_at = utcnow().strftime("%d %B %Y at %H:%M UTC").lstrip("0")
    return await send_email(
        Email(
            to=user.email,
            subject=f"Your {settings.APP_NAME} password was changed",
            template="password_changed",
            context={"first_name": user.first_name, "changed_at": changed_at, "link": settings.FRONTEND_URL},
        )
    )
