"""Single-use link tokens sent by email: issued, throttled, and consumed atomically.

The link carries a random token; the database keeps only its SHA-256, bound to one
purpose, so a verification token can never reset a password.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.config import get_settings
from lib.email.outbox import queue_email
from lib.errors import EmailTokenExpired, EmailTokenInvalid, EmailTokenUsed
from lib.models import EmailKind, EmailOutbox, EmailState, EmailToken, EmailTokenPurpose, User, utcnow
from lib.security.digest import new_opaque_token, token_digest


@dataclass(frozen=True)
class IssuedLink:
    id: uuid.UUID
    token: str
    expires_at: datetime


def issue_email_token(
    session: AsyncSession, *, user_id: uuid.UUID, purpose: EmailTokenPurpose, expires_at: datetime
) -> IssuedLink:
    """A new link token (its digest added to `session`), minted as its email is sent."""
    token = new_opaque_token()
    row = EmailToken(
        user_id=user_id,
        purpose=purpose.value,
        token_hash=token_digest(token),
        created_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(row)
    return IssuedLink(id=row.id, token=token, expires_at=expires_at)


async def seconds_until_next_email(session: AsyncSession, *, user_id: uuid.UUID, purpose: EmailTokenPurpose) -> int:
    """0 when another email of `purpose` may go to the user now, else the seconds to wait (at
    most one per `EMAIL_THROTTLE_SECONDS`, counted from the last one asked for that was sent or
    is on its way). One that failed so far does not hold the next back: the user may ask again,
    and the newer link replaces it (`lib.email.sending`)."""
    window = get_settings().EMAIL_THROTTLE_SECONDS
    state = col(EmailOutbox.state)
    last_asked = (
        await session.execute(
            select(col(EmailOutbox.created_at))
            .where(
                col(EmailOutbox.user_id) == user_id,
                col(EmailOutbox.kind) == purpose.value,
                or_(
                    state == EmailState.SENT.value,
                    and_(state == EmailState.PENDING.value, col(EmailOutbox.last_error).is_(None)),
                ),
            )
            .order_by(col(EmailOutbox.created_at).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if last_asked is None or window <= 0:
        return 0
    remaining = window - (utcnow() - last_asked).total_seconds()
    return max(0, math.ceil(remaining))


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
    session: AsyncSession, *, user: User, purpose: EmailTokenPurpose, lifetime: timedelta, subject: str
) -> None:
    """Email `user` a link of `purpose` after the answer (see `lib.email.outbox`): its token is
    minted when the email is sent, valid until `lifetime` after now. Once it is sent only the
    new link works; earlier links keep working until then."""
    queue_email(session, kind=EmailKind(purpose.value), user=user, subject=subject, link_lifetime=lifetime)


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
