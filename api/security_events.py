"""Security events: the signed-in user's own, and every user's for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from mangum import Mangum

from lib.app import create_app
from lib.deps import AdminUser, CurrentUser, Session
from lib.errors import InvalidCursor
from lib.events import history
from lib.events.schemas import AdminEventQuery, EventPageQuery, SecurityEventPage
from lib.openapi import raises

router = APIRouter()


@router.get("/api/v1/user/me/security-events", response_model=SecurityEventPage, tags=["user"])
@raises(InvalidCursor)
async def list_my_security_events(
    session: Session, user: CurrentUser, query: Annotated[EventPageQuery, Query()]
) -> SecurityEventPage:
    """The signed-in user's security events (sign-ins, changes, failures), newest first."""
    return await history.list_user_events(session, user_id=user.id, query=query)


@router.get("/api/v1/admin/security-events", response_model=SecurityEventPage, tags=["admin"])
@raises(InvalidCursor)
async def list_security_events(
    session: Session, _: AdminUser, query: Annotated[AdminEventQuery, Query()]
) -> SecurityEventPage:
    """Every user's security events, newest first, optionally of one user or type, between `since` and `until`."""
    return await history.list_events(session, query=query)


app = create_app(router)
handler = Mangum(app, lifespan="off")
