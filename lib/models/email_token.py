from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, String, Uuid, func
from sqlmodel import Field, SQLModel

from lib.models.base import UTCDateTime


class EmailTokenPurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"


class EmailToken(SQLModel, table=True):
    """A single-use link token sent by email; only its SHA-256 is stored."""

    __tablename__ = "email_tokens"
    __table_args__ = (Index("ix_email_tokens_user_purpose", "user_id", "purpose", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False))
    purpose: str = Field(max_length=20)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, server_default=func.now(), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
