"""Writing security events.

An event is written in the transaction of the change it records, so that a request that rolls
back (or is run again after losing a race) leaves exactly what it did: a sign-in that failed
halfway leaves no `login_succeeded`, a retried one leaves one. A failure is recorded with
`record_failure`, which commits it at once, like the throttle's reservation: the error answer
that follows would otherwise roll it back. Nothing runs after that commit but the answer, so a
retry cannot write a failure twice.

Where the request came from (address, user agent, request id, the caller's session) is
remembered on the database session by the request's dependencies (`lib.events.context`), so no
service passes it along. Each event becomes one JSON log line when its transaction commits.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from lib.db import commit_now
from lib.events.context import request_context
from lib.log import log_event
from lib.models import SecurityEventRecord, SecurityEventType, utcnow

EVENTS = SecurityEventRecord.__table__  # type: ignore[attr-defined]
EVENT_COLUMNS = tuple(column.name for column in EVENTS.columns)  # the keys of `event_row`
_UNLOGGED = "security_events_unlogged"


def event_row(
    session: AsyncSession,
    *,
    type: SecurityEventType,
    user_id: uuid.UUID | None,
    actor_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The row of an event that the caller writes in this transaction (`record_event` does;
    `lib.sessions.start.start_session` folds it into the session's own INSERT)."""
    context = request_context(session)
    row = {
        "id": uuid.uuid4(),
        "occurred_at": utcnow(),
        "type": type.value,
        "user_id": user_id,
        "actor_id": actor_id,
        "session_id": session_id or context.session_id,
        "ip_address": context.ip_address[:45] if context.ip_address else None,
        "user_agent": context.user_agent[:255] if context.user_agent else None,
        "request_id": context.request_id[:128] if context.request_id else None,
        "details": details or {},
    }
    session.info.setdefault(_UNLOGGED, []).append(row)
    return row


async def record_event(
    session: AsyncSession,
    *,
    type: SecurityEventType,
    user_id: uuid.UUID | None,
    actor_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Write an event in the current transaction: it stands if the request's change does."""
    row = event_row(session, type=type, user_id=user_id, actor_id=actor_id, session_id=session_id, details=details)
    await session.execute(insert(EVENTS).values(**row))


async def record_failure(
    session: AsyncSession,
    *,
    type: SecurityEventType,
    user_id: uuid.UUID | None,
    session_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Write a failure and commit it: the caller raises the error the request answers with next."""
    await record_event(session, type=type, user_id=user_id, session_id=session_id, details=details)
    await commit_now(session)


@event.listens_for(Session, "after_commit")
def _log_committed(session: Session) -> None:
    for row in session.info.pop(_UNLOGGED, ()):
        fields = {name: value for name, value in row.items() if name not in {"type", "request_id"}}
        log_event("security_event", type=row["type"], **fields)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, _previous: SessionTransaction) -> None:
    session.info.pop(_UNLOGGED, None)
