"""Single-use link tokens sent by email: issued, throttled, and consumed atomically.

The link carries a random token; the database keeps only its SHA-256, bound to one
purpose, so a verification token can never reset a password.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.config import get_settings
from lib.db import in_new_transaction
from lib.email import Email
from lib.email.outbox import queue_email
from lib.errors import EmailTokenExpired, EmailTokenInvalid, EmailTokenUsed
from lib.models import EmailToken, EmailTokenPurpose, User, utcnow
from lib.security.digest import new_opaque_token, token_digest
from lib.users.rows import lock_user


@dataclass(frozen=True)
class IssuedLink:
    id: uuid.UUID
    token: str
    expires_at: datetime


def issue_email_token(
    session: AsyncSession, *, user_id: uuid.UUID, purpose: EmailTokenPurpose, lifetime: timedelta
) -> IssuedLink:
    now = utcnow()
    token = new_opaque_token()
    row = EmailToken(
        user_id=user_id,
        purpose=purpose.value,
        token_hash=token_digest(token),
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    return IssuedLink(id=row.id, token=token, expires_at=row.expires_at)


async def seconds_until_next_email(session: AsyncSession, *, user_id: uuid.UUID, purpose: EmailTokenPurpose) -> int:
    """0 when another email of `purpose` may go to the user now, else the seconds to wait
    (at most one per `EMAIL_THROTTLE_SECONDS`, counted from the last one sent)."""
    window = get_settings().EMAIL_THROTTLE_SECONDS
    last_sent = (
        await session.execute(
            select(col(EmailToken.created_at))
            .where(col(EmailToken.user_id) == user_id, col(EmailToken.purpose) == purpose.value)
            .order_by(col(EmailToken.created_at).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if last_sent is None or window <= 0:
        return 0
    remaining = window - (utcnow() - last_sent).total_seconds()
    return max(0, math.ceil(remaining))


async def discard_email_token(session: AsyncSession, *, token_id: uuid.UUID) -> None:
    """Forget a token whose email could not be sent: it never works and does not count
    against the throttle, so the user can ask again at once."""
    await session.execute(delete(EmailToken).where(col(EmailToken.id) == token_id))


async def retire_email_tokens(
    session: AsyncSession, *, user_id: uuid.UUID, purpose: EmailTokenPurpose, keep: uuid.UUID | None = None
) -> None:
    """Mark the user's unused tokens of `purpose` as used: only the newest link (or none) works."""
    statement = (
        update(EmailToken)
        .where(
            col(EmailToken.user_id) == user_id,
            col(EmailToken.purpose) == purpose.value,
            col(EmailToken.used_at).is_(None),
        )
        .values(used_at=utcnow())
    )
    if keep is not None:
        statement = statement.where(col(EmailToken.id) != keep)
    await session.execute(statement)


async def find_email_token_user(session: AsyncSession, *, token: str, purpose: EmailTokenPurpose) -> uuid.UUID:
    """The user whom a live `token` belongs to, without using it; 400 when it is unknown (or
    of another purpose), expired, or already used. Callers lock that user's row before they
    consume the token (the lock order: the user, then the user's links)."""
    row = (
        await session.execute(
            select(col(EmailToken.user_id), col(EmailToken.used_at), col(EmailToken.expires_at)).where(
                col(EmailToken.token_hash) == token_digest(token), col(EmailToken.purpose) == purpose.value
            )
        )
    ).first()
    if row is None:
        raise EmailTokenInvalid()
    if row.used_at is not None:
        raise EmailTokenUsed()
    if row.expires_at <= utcnow():
        raise EmailTokenExpired()
    user_id: uuid.UUID = row.user_id
    return user_id


async def consume_email_token(session: AsyncSession, *, token: str, purpose: EmailTokenPurpose) -> uuid.UUID:
    """Use `token` once and return its user's id; 400 when it is unknown (or of another
    purpose), expired, or already used.

    Consumption is one conditional UPDATE, so of concurrent requests with the same
    token exactly one succeeds.
    """
    now = utcnow()
    user_id = (
        await session.execute(
            update(EmailToken)
            .where(
                col(EmailToken.token_hash) == token_digest(token),
                col(EmailToken.purpose) == purpose.value,
                col(EmailToken.used_at).is_(None),
                col(EmailToken.expires_at) > now,
            )
            .values(used_at=now)
            .returning(col(EmailToken.user_id))
        )
    ).scalar_one_or_none()
    if user_id is not None:
        return user_id
    await find_email_token_user(session, token=token, purpose=purpose)  # raises with the reason
    raise EmailTokenUsed()  # used between the two statements


def queue_link_email(
    session: AsyncSession,
    *,
    user: User,
    purpose: EmailTokenPurpose,
    lifetime: timedelta,
    page: str,
    subject: str,
    template: str,
) -> None:
    """Issue a link token of `purpose` and email it to `user` after the answer.

    Once it is sent only the new link works; when it cannot be sent the new token is
    discarded (the user can ask again at once) and earlier links keep working.
    """
    issued = issue_email_token(session, user_id=user.id, purpose=purpose, lifetime=lifetime)

    async def retire_the_others(later: AsyncSession) -> None:
        if await lock_user(later, user_id=user.id) is not None:
            await retire_email_tokens(later, user_id=user.id, purpose=purpose, keep=issued.id)

    async def discard_the_new_one(later: AsyncSession) -> None:
        await discard_email_token(later, token_id=issued.id)

    queue_email(
        session,
        Email(
            to=user.email,
            subject=subject,
            template=template,
            context={
                "first_name": user.first_name,
                "link": email_link(page, issued.token),
                "expires_in": describe_duration(lifetime),
            },
        ),
        on_sent=partial(in_new_transaction, retire_the_others),
        on_failed=partial(in_new_transaction, discard_the_new_one),
    )


def email_link(page: str, token: str) -> str:
    """`{FRONTEND_URL}/{page}?token=...` (the token is URL-safe as it is)."""
    return f"{get_settings().FRONTEND_URL.rstrip('/')}/{page}?token={token}"


def describe_duration(duration: timedelta) -> str:
    """How long a link stays valid, in words for the email: "48 hours", "1 hour", "30 minutes"."""
    minutes = round(duration.total_seconds() / 60)
    if minutes >= 120 and minutes % 60 == 0:
        return f"{minutes // 60} hours"
    if minutes == 60:
        return "1 hour"
    return f"{minutes} minute{'' if minutes == 1 else 's'}"
