"""Scheduled clean-up of expired and revoked tokens, and the sending of due emails: the Vercel
cron (Bearer CRON_SECRET) and, as `scheduled`, the Lambda schedule."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter
from mangum import Mangum

from lib.app import create_app
from lib.db import commit_now
from lib.deps import CronSecret, Session
from lib.maintenance import CleanupResult, delete_stale_rows, run_cleanup, send_due_emails

router = APIRouter(tags=["ops"])
logger = logging.getLogger("auth.maintenance")


@router.get("/api/v1/cron/cleanup", response_model=CleanupResult, dependencies=[CronSecret])
async def cron_cleanup(session: Session) -> CleanupResult:
    """Delete expired refresh tokens, dead sessions, spent email tokens and old login failures,
    then send the emails that are due."""
    deleted = await delete_stale_rows(session)
    await commit_now(session)
    return CleanupResult(deleted=deleted.deleted, emails=await send_due_emails())


def scheduled(event: dict[str, Any], _context: object = None) -> dict[str, Any]:
    """Lambda entry point for the EventBridge schedule.

    A separate function with no HTTP event: nothing that arrives over HTTP can reach it, so it
    needs no secret. Anything but a scheduled event is refused.
    """
    if event.get("source") != "aws.events" or event.get("detail-type") != "Scheduled Event":
        raise ValueError("scheduled accepts only EventBridge scheduled events")
    result = asyncio.run(run_cleanup(email_seconds=40.0))
    logger.info("clean-up deleted %s, emails %s", result.deleted, result.emails.model_dump())
    return result.model_dump()


app = create_app(router)
handler = Mangum(app, lifespan="off")
