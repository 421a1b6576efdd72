"""The signed-in user's own account: profile, password and deactivation."""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from pydantic_core import PydanticCustomError
from sqlalchemy.ext.asyncio import AsyncSession

from lib.errors import InvalidPassword
from lib.models import Role, User
from lib.security.password_policy import check_password
from lib.security.passwords import hash_password, verify_password
from lib.sessions.tokens import ClientInfo, TokenPair, revoke_user_sessions, start_session
from lib.users.admin import ensure_another_admin_remains, get_user, lock_active_admins
from lib.users.schemas import ChangePasswordRequest, UserUpdate


async def update_profile(session: AsyncSession, *, user: User, data: UserUpdate) -> User:
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(user, name, value)
    await session.flush()
    await session.refresh(user)
    return user


def _check_new_password(password: str, *, user: User) -> None:
    """The policy rules that need the account (the schema already checked the others)."""
    try:
        check_password(password, email=user.email, username=user.username)
    except PydanticCustomError as exc:
        raise RequestValidationError(
            [{"type": exc.type, "loc": ("body", "new_password"), "msg": exc.message(), "input": None}]
        ) from None


async def change_password(
    session: AsyncSession, *, user: User, data: ChangePasswordRequest, client: ClientInfo
) -> TokenPair:
    """Replace the password, end every session (the caller's too) and sign in afresh."""
    _check_new_password(data.new_password, user=user)
    valid, _ = await verify_password(data.current_password, user.hashed_password)
    if not valid:
        raise InvalidPassword()
    user.hashed_password = await hash_password(data.new_password)
    await revoke_user_sessions(session, user_id=user.id)
    return await start_session(session, user=user, client=client)


async def deactivate_account(session: AsyncSession, *, user: User) -> None:
    """Soft delete: the account stays, but cannot log in and its tokens stop working."""
    admins = await lock_active_admins(session) if user.role == Role.ADMIN.value else set()
    user = await get_user(session, user_id=user.id, for_update=True)
    ensure_another_admin_remains(admins, leaving=user)
    user.is_active = False
    await revoke_user_sessions(session, user_id=user.id)
