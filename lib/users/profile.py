"""The signed-in user's own account: profile and deactivation (the password: lib.accounts.passwords)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from lib.events.record import record_event
from lib.models import Role, SecurityEventType, User
from lib.sessions.lifecycle import end_user_sessions
from lib.users.rows import ensure_another_admin_remains, get_user, lock_active_admins
from lib.users.schemas import UserUpdate


async def update_profile(session: AsyncSession, *, user: User, data: UserUpdate) -> User:
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(user, name, value)
    await session.flush()
    await session.refresh(user)
    return user


async def deactivate_account(session: AsyncSession, *, user: User) -> None:
    """Soft delete: the account stays, but cannot log in and its tokens stop working."""
    admins = await lock_active_admins(session) if user.role == Role.ADMIN.value else set()
    user = await get_user(session, user_id=user.id, for_update=True)
    ensure_another_admin_remains(admins, leaving=user)
    user.is_active = False
    await end_user_sessions(session, user=user)
    await record_event(session, type=SecurityEventType.ACCOUNT_DEACTIVATED, user_id=user.id)
