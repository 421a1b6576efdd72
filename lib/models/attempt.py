from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Integer, func
from sqlmodel import Field, SQLModel

from lib.models.base import UTCDateTime


class Attempt(SQLModel, table=True):
    """One failed login, counted per key (`account:<name>` or `ip:<address>`) for throttling.

    Kept in the database so that every function instance sees the same count.
    """

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_created_at", "key", "created_at"),)

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    )
    key: str = Field(max_length=320)
    created_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, server_default=func.now(), nullable=False, index=True)
    )
