"""Liveness and database reachability."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from mangum import Mangum
from pydantic import BaseModel

from lib.app import create_app
from lib.deps import Session
from lib.health import check_database

router = APIRouter(tags=["ops"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    database: Literal["ok"] = "ok"


@router.get("/api/v1/health", response_model=Health)
async def health(session: Session) -> Health:
    """Liveness: 200 when the database answers, 503 otherwise."""
    await check_database(session)
    return Health()


app = create_app(router)
handler = Mangum(app, lifespan="off")
