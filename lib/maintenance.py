"""The scheduled clean-up: rows that can no longer authenticate anything are deleted.

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
from lib.models import Attempt, AuthSession, EmailToken, RefreshToken, SecurityEventRecord, WebAuthnChallenge, utcnow


class CleanupResult(BaseModel):
    deleted: dict[str, int]


async def delete_stale_rows(session: AsyncSession, *, now: datetime | None = None) -> CleanupResult:
    """Delete expired refresh tokens, revoked or expired sessions (with their tokens),
    used or expired email tokens, counted attempts older than their throttling window, and
    expired passkey challenges, and security events older than `SECURITY_EVENT_RETENTION_DAYS`.

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


async def run_cleanup() -> CleanupResult:
    """One clean-up in its own transaction, outside any request."""
    async with AsyncSession(get_engine(), expire_on_commit=False) as session, session.begin():
        return await delete_stale_rows(session)
