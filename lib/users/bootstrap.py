"""Making an admin from the command line (`scripts/create_admin.py`): a new account, or an existing one promoted.

Apart from `lib.users.admin` so that the admin function does not load account creation and its hasher.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from lib.accounts.schemas import UserCreate
from lib.accounts.signup import create_user
from lib.models import Role, User
from lib.users.rows import lock_user_by_email


async def promote_to_admin(session: AsyncSession, *, email: str) -> User | None:
    """Make the account with `email` an active, verified admin; None when there is none."""
    user = await lock_user_by_email(session, email=email)
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
