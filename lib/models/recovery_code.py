from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Uuid, func
from sqlmodel import Field, SQLModel

from lib.models.base import UTCDateTime


class RecoveryCode(SQLModel, table=True):
    """One single-use MFA recovery code, kept only as a keyed digest; `used_at` marks it spent."""

    __tablename__ = "mfa_recovery_codes"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    code_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, server_default=func.now(), nullable=False)
    )
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
