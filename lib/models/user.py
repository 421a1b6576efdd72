from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Column, Index, Integer, String, Text, func
from sqlmodel import Field, SQLModel

from lib.models.base import JSONVariant, UTCDateTime


class Role(StrEnum):
    USER = "user"
    MODERATOR = "moderator"
    ADMIN = "admin"


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('user', 'moderator', 'admin')", name="role"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    username: str = Field(sa_column=Column("username", String(50), nullable=False))
    hashed_password: str = Field(max_length=255)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    role: str = Field(default=Role.USER.value, max_length=20)
    is_active: bool = Field(default=True)
    is_verified: bool = Field(default=False)
    # Raised whenever every session must end (password change or reset, deactivation, demotion,
    # logout): a session records the value it started under and is dead once they differ.
    session_epoch: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    # TOTP (RFC 6238): the secret only as a Fernet token under MFA_ENCRYPTION_KEY, set at enrolment
    # and in force once `mfa_enabled`; the last time step a code was accepted for, so none is used twice.
    mfa_enabled: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default="0"))
    totp_secret_encrypted: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    totp_last_step: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # How many `mfa_token`s were exchanged for a sign-in: each is bound to the count at its issue,
    # so each is good for one exchange.
    mfa_logins: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    background_questionnaire: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONVariant))
    created_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, server_default=func.now(), nullable=False)
    )
    updated_at: datetime | None = Field(
        default=None,
        sa_column=Column(UTCDateTime, server_default=func.now(), onupdate=func.now(), nullable=False),
    )

    @property
    def full_name(self) -> str | None:
        parts = [part for part in (self.first_name, self.last_name) if part]
        return " ".join(parts) or None


# Usernames keep the letter case they were chosen with but are unique regardless of it.
Index("uq_users_username_lower", func.lower(User.__table__.c.username), unique=True)  # type: ignore[attr-defined]
