"""Reading and locking user rows, and the rules checked on them: what every domain shares.

One lock order everywhere: a user's row is locked before its sessions, refresh tokens and email
links. Kept apart from `lib.users.admin` so that the profile function (`api/me.py`) does not load
what only administration needs (account creation and its hasher, MFA, the admin schemas).
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.config import get_settings
from lib.errors import EmailNotVerified, LastAdmin, NotFound
from lib.models import Role, User


def _locking(where: ColumnElement[bool]) -> Select[User]:
    """The user's row, read afresh and locked until the transaction ends.

    FOR NO KEY UPDATE rather than FOR UPDATE: inserting a row that references the user
    (a session, a token) takes a key-share lock, which this one lets through, so such an
    insert never waits on it nor deadlocks with it.
    """
    return select(User).where(where).with_for_update(key_share=True).execution_options(populate_existing=True)


# Built once at import (a statement built per request costs its construction and cache key).
LOCK_BY_ID = _locking(col(User.id) == bindparam("user_id"))
LOCK_BY_EMAIL = _locking(col(User.email) == bindparam("email"))


async def lock_user(session: AsyncSession, *, user_id: uuid.UUID) -> User | None:
    return (await session.execute(LOCK_BY_ID, {"user_id": user_id})).scalar_one_or_none()


async def lock_user_by_email(session: AsyncSession, *, email: str) -> User | None:
    return (await session.execute(LOCK_BY_EMAIL, {"email": email})).scalar_one_or_none()


async def lock_unchanged(session: AsyncSession, user: User) -> User | None:
    """Lock the user's row and return it, unless its password or session epoch changed since
    `user` was read: a request whose password check raced a reset, a password change or a logout
    must not act on it (the password it checked may be the old one; its session may be over).
    `lock_user` refreshes `user` itself, so the values are taken first."""
    epoch, hashed = user.session_epoch, user.hashed_password
    locked = await lock_user(session, user_id=user.id)
    if locked is None or (locked.session_epoch, locked.hashed_password) != (epoch, hashed):
        return None
    return locked


async def get_user(session: AsyncSession, *, user_id: uuid.UUID, for_update: bool = False) -> User:
    if for_update:
        user = await lock_user(session, user_id=user_id)
    else:
        statement = select(User).where(col(User.id) == user_id).execution_options(populate_existing=True)
        user = (await session.execute(statement)).scalar_one_or_none()
    if user is None:
        raise NotFound("User not found")
    return user


def ensure_verified(is_verified: bool) -> None:
    """With `REQUIRE_VERIFIED_EMAIL`, an account whose address is not verified gets no tokens and no access."""
    if get_settings().REQUIRE_VERIFIED_EMAIL and not is_verified:
        raise EmailNotVerified()


async def lock_active_admins(session: AsyncSession) -> set[uuid.UUID]:
    """Lock the active admins' rows (in id order, so that concurrent callers cannot deadlock).

    On PostgreSQL a concurrent change to an admin waits here until this transaction ends,
    then sees the committed state; SQLite transactions are serialized by BEGIN IMMEDIATE.
    """
    rows = await session.execute(
        select(col(User.id))
        .where(col(User.role) == Role.ADMIN.value, col(User.is_active).is_(True))
        .order_by(col(User.id))
        .with_for_update(key_share=True)
    )
    return set(rows.scalars().all())


def ensure_another_admin_remains(admins: set[uuid.UUID], *, leaving: User) -> None:
    """Refuse a change that would take away the last active admin."""
    if leaving.role == Role.ADMIN.value and leaving.is_active and not admins - {leaving.id}:
        raise LastAdmin()
