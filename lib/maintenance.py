"""The scheduled clean-up: rows that can no longer authenticate anything are deleted.

Run by the Vercel cron (`GET /api/v1/cron/cleanup`), by a Lambda schedule
(`scheduled_handler`, reachable only from EventBridge) and by `scripts/cleanup`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import sys
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Header
from pydantic import BaseModel
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.config import get_settings
from lib.db import get_engine
from lib.errors import Unauthorized
from lib.models import AuthSession, EmailToken, LoginFailure, RefreshToken, utcnow

logger = logging.getLogger("auth.maintenance")


class CleanupResult(BaseModel):
    deleted: dict[str, int]


async def delete_stale_rows(session: AsyncSession, *, now: datetime | None = None) -> CleanupResult:
    """Delete expired refresh tokens, revoked or expired sessions (with their tokens),
    used or expired email tokens, and counted attempts older than their throttling window.

    Consumed but unexpired refresh tokens of a live session are kept: presenting one
    again is how reuse is detected.
    """
    now = now or utcnow()
    dead = or_(col(AuthSession.revoked_at).is_not(None), col(AuthSession.expires_at) < now)
    settings = get_settings()
    login_cutoff = now - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    address_cutoff = now - timedelta(seconds=settings.ADDRESS_LIMIT_WINDOW_SECONDS)
    key = col(LoginFailure.key)
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
        "login_failures": delete(LoginFailure).where(
            or_(
                and_(login_key, col(LoginFailure.created_at) < login_cutoff),
                and_(~login_key, col(LoginFailure.created_at) < address_cutoff),
            )
        ),
    }
    deleted: dict[str, int] = {}
    for table, statement in statements.items():
        result = await session.execute(statement.execution_options(synchronize_session=False))
        deleted[table] = int(result.rowcount)  # type: ignore[attr-defined]
    return CleanupResult(deleted=deleted)


def require_cron_secret(authorization: Annotated[str | None, Header()] = None) -> None:
    """Only the scheduler knows `CRON_SECRET`; without one configured nobody gets in."""
    secret = get_settings().CRON_SECRET
    scheme, _, presented = (authorization or "").partition(" ")
    if not secret or scheme.lower() != "bearer":
        raise Unauthorized()
    if not hmac.compare_digest(presented.strip().encode(), secret.encode()):
        raise Unauthorized()


async def run_cleanup() -> CleanupResult:
    """One clean-up in its own transaction, outside any request."""
    async with AsyncSession(get_engine(), expire_on_commit=False) as session, session.begin():
        return await delete_stale_rows(session)


def scheduled_handler(event: dict[str, Any], _context: object = None) -> dict[str, Any]:
    """Lambda entry point for the EventBridge schedule.

    It is deliberately a separate function with no HTTP event: nothing that arrives
    over HTTP can reach it, so it needs no secret. Anything but a scheduled event is refused.
    """
    if event.get("source") != "aws.events" or event.get("detail-type") != "Scheduled Event":
        raise ValueError("scheduled_handler accepts only EventBridge scheduled events")
    result = asyncio.run(run_cleanup())
    logger.info("clean-up deleted %s", result.deleted)
    return result.model_dump()


def main() -> None:
    sys.stdout.write(json.dumps(asyncio.run(run_cleanup()).model_dump()) + "\n")


if __name__ == "__main__":
    main()
