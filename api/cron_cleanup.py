"""Scheduled clean-up of expired and revoked tokens (Vercel cron; Bearer CRON_SECRET)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from mangum import Mangum

from lib.app import create_app
from lib.deps import Session
from lib.maintenance import CleanupResult, delete_stale_rows, require_cron_secret

router = APIRouter(tags=["ops"])


@router.get("/api/v1/cron/cleanup", response_model=CleanupResult, dependencies=[Depends(require_cron_secret)])
async def cron_cleanup(session: Session) -> CleanupResult:
    """Delete expired refresh tokens, dead sessions, spent email tokens and old login failures."""
    return await delete_stale_rows(session)


app = create_app(router)
handler = Mangum(app, lifespan="off")
