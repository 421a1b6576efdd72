"""Reading security events: newest first, a page at a time.

Pages are cut by keyset on (occurred_at, id), not by offset: the cursor names the last event a
page gave, and the next page starts just below it, so events that arrive meanwhile (above it)
neither push an event onto two pages nor past one.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.errors import InvalidCursor
from lib.events.schemas import AdminEventQuery, EventPageQuery, SecurityEvent, SecurityEventPage
from lib.models import SecurityEventRecord

_AT, _ID = col(SecurityEventRecord.occurred_at), col(SecurityEventRecord.id)


def encode_cursor(event: SecurityEvent) -> str:
    text = f"{event.occurred_at.isoformat()}|{event.id}"
    return base64.urlsafe_b64encode(text.encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        moment, _, event_id = text.partition("|")
        occurred_at = datetime.fromisoformat(moment)
        if occurred_at.tzinfo is None:
            raise ValueError(moment)
        return occurred_at.astimezone(UTC), uuid.UUID(event_id)
    except (ValueError, OverflowError, binascii.Error, UnicodeError):
        raise InvalidCursor() from None


def _below(cursor: str) -> ColumnElement[bool]:
    occurred_at, event_id = decode_cursor(cursor)
    return or_(_AT < occurred_at, and_(_AT == occurred_at, _ID < event_id))


async def _page(
    session: AsyncSession, statement: Select[SecurityEventRecord], query: EventPageQuery
) -> SecurityEventPage:
    if query.cursor is not None:
        statement = statement.where(_below(query.cursor))
    rows = (await session.execute(statement.order_by(_AT.desc(), _ID.desc()).limit(query.limit + 1))).scalars().all()
    items = [SecurityEvent.model_validate(row) for row in rows[: query.limit]]
    more = len(rows) > query.limit
    return SecurityEventPage(items=items, next_cursor=encode_cursor(items[-1]) if more else None)


async def list_user_events(session: AsyncSession, *, user_id: uuid.UUID, query: EventPageQuery) -> SecurityEventPage:
    """The user's own events, newest first."""
    statement = select(SecurityEventRecord).where(col(SecurityEventRecord.user_id) == user_id)
    return await _page(session, statement, query)


async def list_events(session: AsyncSession, *, query: AdminEventQuery) -> SecurityEventPage:
    """Every user's events, newest first, narrowed by user, type and time (`since` included,
    `until` not)."""
    statement = select(SecurityEventRecord)
    if query.user_id is not None:
        statement = statement.where(col(SecurityEventRecord.user_id) == query.user_id)
    if query.type is not None:
        statement = statement.where(col(SecurityEventRecord.type) == query.type.value)
    if query.since is not None:
        statement = statement.where(_AT >= query.since)
    if query.until is not None:
        statement = statement.where(_AT < query.until)
    return await _page(session, statement, query)
