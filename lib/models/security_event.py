from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, String, Uuid
from sqlmodel import Field, SQLModel

from lib.models.base import JSONVariant, UTCDateTime


class SecurityEventType(StrEnum):
    SIGN_UP = "sign_up"
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"  # details.reason: see LoginFailure
    MFA_SUCCEEDED = "mfa_succeeded"
    MFA_FAILED = "mfa_failed"
    RECOVERY_CODE_USED = "recovery_code_used"
    MFA_ENABLED = "mfa_enabled"
    MFA_DISABLED = "mfa_disabled"
    RECOVERY_CODES_RENEWED = "recovery_codes_renewed"
    # Written by the passkey flows (lib/passkeys), which are not built yet.
    PASSKEY_ADDED = "passkey_added"
    PASSKEY_REMOVED = "passkey_removed"
    PASSKEY_LOGIN = "passkey_login"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET_REQUESTED = "password_reset_requested"
    PASSWORD_RESET = "password_reset"
    EMAIL_VERIFIED = "email_verified"
    REFRESH_REUSE_DETECTED = "refresh_reuse_detected"
    SESSION_ENDED = "session_ended"  # details.by: logout, user, admin, revoke
    ACCOUNT_DEACTIVATED = "account_deactivated"
    ACCOUNT_DELETED = "account_deleted"
    USER_UPDATED_BY_ADMIN = "user_updated_by_admin"  # details.before / details.after


class SecurityEventRecord(SQLModel, table=True):
    """One security event, as stored: something that happened to an account, kept for its owner and the admins to read.

    No foreign keys: an event outlives what it names (`account_deleted` outlives the user, a
    `session_ended` the session the clean-up deletes), and writing one locks nothing else.
    `type` is a plain string so that a new kind of event needs no migration. `details` never
    holds a password, token, code, secret or link.
    """

    __tablename__ = "security_events"
    __table_args__ = (
        Index("ix_security_events_user_id_occurred_at", "user_id", "occurred_at", "id"),
        Index("ix_security_events_type_occurred_at", "type", "occurred_at", "id"),
        Index("ix_security_events_occurred_at", "occurred_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    type: str = Field(sa_column=Column(String(40), nullable=False))
    user_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    actor_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    session_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    ip_address: str | None = Field(default=None, sa_column=Column(String(45), nullable=True))
    user_agent: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))
    request_id: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONVariant, nullable=False))
