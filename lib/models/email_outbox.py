from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Uuid, func
from sqlmodel import Field, SQLModel

from lib.models.base import JSONVariant, UTCDateTime


class EmailKind(StrEnum):
    """What an email is for; the two link kinds share their names with `EmailTokenPurpose`."""

    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"
    PASSWORD_CHANGED = "password_changed"
    MFA_CHANGED = "mfa_changed"
    PASSKEY_CHANGED = "passkey_changed"
    ACCOUNT_EXISTS = "account_exists"


class EmailState(StrEnum):
    PENDING = "pending"  # to send when `next_attempt_at` comes (also while a sender holds it)
    SENT = "sent"
    GIVEN_UP = "given_up"  # failed `EMAIL_MAX_ATTEMPTS` times; kept for the operator
    SKIPPED = "skipped"  # not sent, and never will be: its link would have expired, or a newer one replaced it


class EmailOutbox(SQLModel, table=True):
    """An email to send: written in the transaction of the request that causes it, sent after
    the answer, retried with backoff. It holds the intent, never a secret: a link's token is
    minted when the email is sent."""

    __tablename__ = "email_outbox"
    __table_args__ = (
        Index("ix_email_outbox_state_due", "state", "next_attempt_at"),
        Index("ix_email_outbox_user_kind", "user_id", "kind", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=20)
    user_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False))
    address: str = Field(max_length=320)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONVariant, nullable=False))
    # When the link of a link email stops working (fixed at the request): past it, the email is not sent.
    link_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    state: str = Field(
        default=EmailState.PENDING.value, sa_column=Column(String(10), nullable=False, server_default="pending")
    )
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, server_default=func.now(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
