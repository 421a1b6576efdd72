"""User administration: listing, reading, changing and deleting accounts."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.db import commit_now
from lib.events.record import record_event
from lib.mfa.factors import turn_off_mfa
from lib.mfa.notices import send_mfa_notice
from lib.models import Role, SecurityEventType, User
from lib.sessions.lifecycle import end_user_sessions
from lib.users.rows import ensure_another_admin_remains, get_user, lock_active_admins
from lib.users.schemas import AdminUserUpdate, UserListQuery, UserPage, UserPublic

_RANK = {Role.USER: 0, Role.MODERATOR: 1, Role.ADMIN: 2}
_AUDITED = ("role", "is_active", "is_verified", "mfa_enabled")


def _audited(user: User) -> dict[str, object]:
    return {name: getattr(user, name) for name in _AUDITED}


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


async def update_user(session: AsyncSession, *, user_id: uuid.UUID, data: AdminUserUpdate, actor_id: uuid.UUID) -> User:
    """Change role and flags; demotion or deactivation ends the user's sessions at once. The
    admin (`actor_id`) and the values before and after are recorded."""
    changes = data.model_dump(exclude_unset=True)
    may_remove_admin = changes.get("role", Role.ADMIN) != Role.ADMIN or changes.get("is_active") is False
    admins = await lock_active_admins(session) if may_remove_admin else set()
    user = await get_user(session, user_id=user_id, for_update=True)
    before = _audited(user)

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
        by_admin = {"by": "admin"}
        await record_event(
            session, type=SecurityEventType.SESSION_ENDED, user_id=user.id, actor_id=actor_id, details=by_admin
        )
    if "role" in changes:
        user.role = Role(changes["role"]).value
    for name in ("is_active", "is_verified"):
        if name in changes:
            setattr(user, name, changes[name])
    after = _audited(user)
    if after != before:
        changed = [name for name in _AUDITED if after[name] != before[name]]
        details = {"before": {name: before[name] for name in changed}, "after": {name: after[name] for name in changed}}
        await record_event(
            session, type=SecurityEventType.USER_UPDATED_BY_ADMIN, user_id=user.id, actor_id=actor_id, details=details
        )
    await session.flush()
    await session.refresh(user)
    return user


async def delete_user(session: AsyncSession, *, user_id: uuid.UUID, actor_id: uuid.UUID) -> None:
    """Delete the account; its sessions and tokens go with it (ON DELETE CASCADE), its security
    events stay (they hold no foreign key), `account_deleted` among them.

    One lock order with a refresh, which locks its token, then its session, then takes a key
    share of the user's row to insert the next token: deleting the row at once would hold it
    against that key share while the cascade waits for the session the refresh holds (a
    deadlock), or for a token a refresh holds while it waits for the session. So the user's
    row is locked first (FOR NO KEY UPDATE, which a refresh's key share passes) and its
    sessions are ended and committed: from then on no refresh locks a session or inserts a
    token of this user, and the row is deleted in a second transaction, with the cascade.
    A deletion that fails between the two has signed the user out, nothing more.
    """
    admins = await lock_active_admins(session)
    user = await get_user(session, user_id=user_id, for_update=True)
    ensure_another_admin_remains(admins, leaving=user)
    await end_user_sessions(session, user=user)
    await commit_now(session)
    admins = await lock_active_admins(session)
    user = await get_user(session, user_id=user_id, for_update=True)
    ensure_another_admin_remains(admins, leaving=user)
    await session.execute(delete(User).where(col(User.id) == user.id))
    await record_event(session, type=SecurityEventType.ACCOUNT_DELETED, user_id=user.id, actor_id=actor_id)
