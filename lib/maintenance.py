"""The scheduled clean-up: rows that can no longer authenticate anything are deleted, and the
emails that are due (retries, and any a request could not hand on) are sent.

Run by the Vercel cron (`GET /api/v1/cron/cleanup`), by a Lambda schedule (the
`scheduled` handler of `api/cron_cleanup.py`, reachable only from EventBridge) and by
`scripts/cleanup`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.config import get_settings
from lib.db import get_engine
from lib.models import (
    Attempt,
    AuthSession,
    EmailOutbox,
    EmailState,
    EmailToken,
    RefreshToken,
    SecurityEventRecord,
    WebAuthnChallenge,
    utcnow,
)

# Sent or skipped emails are kept this long (the per-account email throttle reads them); given-up
# ones stay until the operator deals with them (`scripts/outbox`).
EMAIL_OUTBOX_RETENTION = timedelta(days=7)


class EmailsResult(BaseModel):
    sent: int
    failed: int
    given_up: int


class CleanupResult(BaseModel):
    deleted: dict[str, int]
    emails: EmailsResult = EmailsResult(sent=0, failed=0, given_up=0)


async def delete_stale_rows(session: AsyncSession, *, now: datetime | None = None) -> CleanupResult:
    """Delete expired refresh tokens, revoked or expired sessions (with their tokens),
    used or expired email tokens, counted attempts older than their throttling window, and
    expired passkey challenges, security events older than `SECURITY_EVENT_RETENTION_DAYS`, and
    sent or skipped emails older than `EMAIL_OUTBOX_RETENTION`.

    Consumed but unexpired refresh tokens of a live session are kept: presenting one
    again is how reuse is detected.
    """
    now = now or utcnow()
    dead = or_(col(AuthSession.revoked_at).is_not(None), col(AuthSession.expires_at) < now)
    settings = get_settings()
    login_cutoff = now - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    address_cutoff = now - timedelta(seconds=settings.ADDRESS_LIMIT_WINDOW_SECONDS)
    key = col(Attempt.key)
    events_cutoff = now - timedelta(days=settings.SECURITY_EVENT_RETENTION_DAYS)
    login_key = or_(key.startswith("account:"), key.startswith("ip:"))  # the rest: sign-up, email requests
    statements = {
        "refresh_tokens": delete(RefreshToken).where(
            or_(
                col(RefreshToken.expires_at) < now,
                col(RefreshToken.session_id).in_(select(col(AuthSession.id)).where(dead)),
            )
        ),
        "sessions": delete(AuthSession).where(dead),
        "email_tokens": delete(EmailToken).where(
            or_(col(EmailToken.used_at).is_not(None), col(EmailToken.expires_at) < now)
        ),
        "email_outbox": delete(EmailOutbox).where(
            col(EmailOutbox.state).in_((EmailState.SENT.value, EmailState.SKIPPED.value)),
            col(EmailOutbox.created_at) < now - EMAIL_OUTBOX_RETENTION,
        ),
        "login_failures": delete(Attempt).where(
            or_(
                and_(login_key, col(Attempt.created_at) < login_cutoff),
                and_(~login_key, col(Attempt.created_at) < address_cutoff),
            )
        ),
        "webauthn_challenges": delete(WebAuthnChallenge).where(col(WebAuthnChallenge.expires_at) < now),
        "security_events": delete(SecurityEventRecord).where(col(SecurityEventRecord.occurred_at) < events_cutoff),
    }
    deleted: dict[str, int] = {}
    for table, statement in statements.items():
        result = await session.execute(statement.execution_options(synchronize_session=False))
        deleted[table] = int(result.rowcount)  # type: ignore[attr-defined]
    return CleanupResult(deleted=deleted)


async def send_due_emails(*, seconds: float = 20.0) -> EmailsResult:
    """Send every email that is due, for at most about `seconds` (see `lib.email.sending`)."""
    from lib.email.sending import drain_due

    counts = await drain_due(seconds=seconds)
    return EmailsResult(sent=counts.sent, failed=counts.failed, given_up=counts.given_up)


async def run_cleanup(*, email_seconds: float = 20.0) -> CleanupResult:
    """One clean-up in its own transaction, outside any request, then the due emails."""
    async with AsyncSession(get_engine(), expire_on_commit=False) as session, session.begin():
        deleted = await delete_stale_rows(session)
    return CleanupResult(deleted=deleted.deleted, emails=await send_due_emails(seconds=email_seconds))
