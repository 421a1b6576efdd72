"""The signed-in user's sessions (refresh-token families): listing and ending one."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.errors import NotFound
from lib.events.record import record_event
from lib.models import AuthSession, SecurityEventType, utcnow
from lib.sessions.lifecycle import revoke_session
from lib.sessions.schemas import SessionPublic


def _live_sessions_of(user_id: uuid.UUID) -> ColumnElement[bool]:
    return and_(
        col(AuthSession.user_id) == user_id,
        col(AuthSession.revoked_at).is_(None),
        col(AuthSession.expires_at) > utcnow(),
    )


async def list_sessions(
    session: AsyncSession, *, user_id: uuid.UUID, current_session_id: uuid.UUID
) -> list[SessionPublic]:
    """Live sessions, most recently used first; the one the caller's token belongs to is `current`."""
    rows = await session.execute(
        select(AuthSession)
        .where(_live_sessions_of(user_id))
        .order_by(col(AuthSession.last_used_at).desc(), col(AuthSession.id))
    )
    return [
        SessionPublic(
            id=row.id,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            user_agent=row.user_agent,
            current=row.id == current_session_id,
        )
        for row in rows.scalars()
    ]


async def end_session(session: AsyncSession, *, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
    """Revoke one of the user's live sessions; any other id is 404, whoever it belongs to."""
    found = (
        await session.execute(
            select(col(AuthSession.id)).where(col(AuthSession.id) == session_id, _live_sessions_of(user_id))
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFound("Session not found")
    await revoke_session(session, session_id=session_id)
    details = {"by": "user"}
    await record_event(
        session, type=SecurityEventType.SESSION_ENDED, user_id=user_id, session_id=session_id, details=details
    )
