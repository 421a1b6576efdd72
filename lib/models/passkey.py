from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, LargeBinary, String, Uuid, func
from sqlmodel import Field, SQLModel

from lib.models.base import JSONVariant, UTCDateTime


class Passkey(SQLModel, table=True):
    """A WebAuthn credential (passkey) of a user: what verifies its assertions, and what the user
    calls it. The credential id is the authenticator's (unique across users); the public key is
    the COSE key exactly as the attestation gave it."""

    __tablename__ = "passkeys"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    credential_id: bytes = Field(sa_column=Column(LargeBinary(1023), nullable=False, unique=True))
    public_key: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    sign_count: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    transports: list[str] = Field(default_factory=list, sa_column=Column(JSONVariant, nullable=False))
    backed_up: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default="0"))
    name: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, server_default=func.now(), nullable=False)
    )
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class WebAuthnChallenge(SQLModel, table=True):
    """A challenge handed out with ceremony options: single use, short-lived, bound to its
    ceremony (`registration` or `authentication`) and, for a registration, to the user. Its id is
    the SHA-256 of the challenge, which the second request finds inside `clientDataJSON`."""

    __tablename__ = "webauthn_challenges"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    ceremony: str = Field(sa_column=Column(String(16), nullable=False))
    user_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True)
    )
    created_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, server_default=func.now(), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
