from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String, Uuid, func
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
    # The user's `session_epoch` when this session started; a later epoch ends it.
    epoch: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))


class RefreshToken(SQLModel, table=True):
    """One issued refresh token, identified by its `jti` (the id); the database keeps only the
    token's SHA-256. `used_at` marks it consumed."""

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
    # The token's `iat`: with the other claims, which the row and its parent hold, the token can be
    # signed again, byte for byte (RS256 is deterministic), for a retry within the grace window.
    issued_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # The token this one replaced at rotation: within the grace window, only the immediately
    # previous token of a live successor may be presented again.
    parent_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True, index=True))
