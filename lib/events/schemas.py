from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from lib.models import SecurityEventType


class SecurityEvent(BaseModel):
    """One security event: exactly the columns of the `security_events` table."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    occurred_at: datetime
    type: str
    user_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    session_id: uuid.UUID | None
    ip_address: str | None
    user_agent: str | None
    request_id: str | None
    details: dict[str, Any]


class SecurityEventPage(BaseModel):
    items: list[SecurityEvent]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page; null on the last one")


class EventPageQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200, description="`next_cursor` of the previous page")


class AdminEventQuery(EventPageQuery):
    user_id: uuid.UUID | None = None
    type: SecurityEventType | None = None
    since: AwareDatetime | None = Field(default=None, description="Events at or after this moment")
    until: AwareDatetime | None = Field(default=None, description="Events before this moment")

    @field_validator("since", "until")
    @classmethod
    def in_utc(cls, value: datetime | None) -> datetime | None:
        try:
            return None if value is None else value.astimezone(UTC)
        except OverflowError:
            raise ValueError("out of range in UTC") from None
