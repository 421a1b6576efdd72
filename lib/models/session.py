from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Uuid, func
from sqlmodel import Field, SQLModel

from lib.models.base import UTCDateTime


class AuthSession(SQLModel, table=True):
    """A sign-in: one refresh-token family. Access tokens name it in their `sid` claim."""

    __tablename__ = "sessions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    user_agent: str | None = Field(default=None, max_length=255)
    ip_address: str | None = Field(default=None, max_length=45)
    created_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, server_default=func.now(), nullable=False)
    )
    last_used_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, server_default=func.now(), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class RefreshToken(SQLModel, table=True):
    """One issued refresh token; only its SHA-256 is stored. `used_at` marks it consumed."""

    __tablename__ = "refresh_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    session_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, server_default=func.now(), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
