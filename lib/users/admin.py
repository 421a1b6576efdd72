"""User administration: listing, reading, changing and deleting accounts."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.accounts.schemas import UserCreate
from lib.accounts.service import create_user
from lib.errors import LastAdmin, NotFound
from lib.mfa.factors import turn_off_mfa
from lib.mfa.notices import send_mfa_notice
from lib.models import Role, User
from lib.sessions.lifecycle import end_user_sessions
from lib.users.schemas import AdminUserUpdate, UserListQuery, UserPage, UserPublic

_RANK = {Role.USER: 0, Role.MODERATOR: 1, Role.ADMIN: 2}


async def list_users(session: AsyncSession, *, query: UserListQuery) -> UserPage:
    """A page of users, oldest first; `q` matches part of the email or username, any letter case."""
    condition = None
    if query.q and query.q.strip():
        needle = query.q.strip().lower()
        condition = or_(
            func.lower(col(User.email)).contains(needle, autoescape=True),
            func.lower(col(User.username)).contains(needle, autoescape=True),
        )
    count = select(func.count()).select_from(User)
    page = select(User).order_by(col(User.created_at), col(User.id)).limit(query.limit).offset(query.offset)
    if condition is not None:
        count = count.where(condition)
        page = page.where(condition)
    total = (await session.execute(count)).scalar_one()
    users = (await session.execute(page)).scalars().all()
    return UserPage(
        items=[UserPublic.model_validate(user) for user in users],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )


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


async def update_user(session: AsyncSession, *, user_id: uuid.UUID, data: AdminUserUpdate) -> User:
    """Change role and flags; demotion or deactivation ends the user's sessions at once."""
    changes = data.model_dump(exclude_unset=True)
    may_remove_admin = changes.get("role", Role.ADMIN) != Role.ADMIN or changes.get("is_active") is False
    admins = await lock_active_admins(session) if may_remove_admin else set()
    user = await get_user(session, user_id=user_id, for_update=True)

    demoted = "role" in changes and _RANK[changes["role"]] < _RANK[Role(user.role)]
    deactivated = changes.get("is_active") is False and user.is_active
    mfa_off = changes.get("mfa_enabled") is False and user.mfa_enabled
    if demoted or deactivated:
        ensure_another_admin_remains(admins, leaving=user)
    if mfa_off:  # a lost phone: the owner signs in with the password alone until they enrol again
        await turn_off_mfa(session, user=user)
        send_mfa_notice(session, user=user, change="disabled_by_admin")
    if demoted or deactivated or mfa_off:
        await end_user_sessions(session, user=user)
    if "role" in changes:
        user.role = Role(changes["role"]).value
    for name in ("is_active", "is_verified"):
        if name in changes:
            setattr(user, name, changes[name])
    await session.flush()
    await session.refresh(user)
    return user


async def delete_user(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """Delete the account; its sessions and tokens go with it (ON DELETE CASCADE)."""
    admins = await lock_active_admins(session)
    user = await get_user(session, user_id=user_id, for_update=True)
    ensure_another_admin_remains(admins, leaving=user)
    await session.execute(delete(User).where(col(User.id) == user.id))


async def promote_to_admin(session: AsyncSession, *, email: str) -> User | None:
    """Make the account with `email` an active, verified admin; None when there is none."""
    statement = select(User).where(col(User.email) == email).with_for_update(key_share=True)
    user = (await session.execute(statement)).scalar_one_or_none()
    if user is not None:
        user.role = Role.ADMIN.value
        user.is_active = True
        user.is_verified = True
    return user


async def create_admin(session: AsyncSession, *, data: UserCreate) -> User:
    """A new account that is an admin from the start, its address taken as verified."""
    user = await create_user(session, data=data, role=Role.ADMIN.value)
    user.is_verified = True
    return user
