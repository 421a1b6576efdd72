"""Reading and locking user rows: what the profile and user administration share.

Kept apart from `lib.users.admin` so that the profile function (`api/me.py`) does not load
what only administration needs (account creation and its hasher, MFA, the admin schemas).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.errors import LastAdmin, NotFound
from lib.models import Role, User


async def get_user(session: AsyncSession, *, user_id: uuid.UUID, for_update: bool = False) -> User:
    statement = select(User).where(col(User.id) == user_id).execution_options(populate_existing=True)
    if for_update:
        statement = statement.with_for_update(key_share=True)  # see lib.sessions.lifecycle.lock_user
    user = (await session.execute(statement)).scalar_one_or_none()
    if user is None:
        raise NotFound("User not found")
    return user


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
