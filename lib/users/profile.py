"""The signed-in user's own account: profile, password and deactivation."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from lib.accounts.recovery import send_password_changed_notice
from lib.errors import InvalidPassword, TooManyRequests
from lib.log import log_event
from lib.models import Role, User
from lib.security.password_policy import require_acceptable_password
from lib.security.passwords import hash_password, verify_password
from lib.sessions.throttle import check_login_throttle, record_login_failure, throttle_keys
from lib.sessions.tokens import ClientInfo, TokenPair, revoke_user_sessions, start_session
from lib.users.admin import ensure_another_admin_remains, get_user, lock_active_admins
from lib.users.schemas import ChangePasswordRequest, UserUpdate


async def update_profile(session: AsyncSession, *, user: User, data: UserUpdate) -> User:
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(user, name, value)
    await session.flush()
    await session.refresh(user)
    return user


async def change_password(
    session: AsyncSession, *, user: User, data: ChangePasswordRequest, client: ClientInfo
) -> TokenPair:
    """Replace the password, end every session (the caller's too) and sign in afresh.

    A wrong current password is a password guess: it counts toward (and is refused by)
    the same throttle as login, so a stolen access token cannot brute-force it.
    """
    require_acceptable_password(data.new_password, email=user.email, username=user.username)
    keys = throttle_keys(identifier=user.email, ip_address=client.ip_address)
    throttled, _ = await check_login_throttle(session, keys=keys)
    if throttled is not None:
        raise TooManyRequests(throttled.retry_after, "Too many wrong passwords; try again later")
    valid, _ = await verify_password(data.current_password, user.hashed_password)
    if not valid:
        await record_login_failure(session, keys=keys)
        log_event("password_change_failure", user_id=user.id, ip=client.ip_address)
        raise InvalidPassword()
    user.hashed_password = await hash_password(data.new_password)
    await revoke_user_sessions(session, user_id=user.id)
    pair = await start_session(session, user=user, client=client)
    log_event("password_changed", user_id=user.id, via="change")
    await send_password_changed_notice(user)
    return pair


async def deactivate_account(session: AsyncSession, *, user: User) -> None:
    """Soft delete: the account stays, but cannot log in and its tokens stop working."""
    admins = await lock_active_admins(session) if user.role == Role.ADMIN.value else set()
    user = await get_user(session, user_id=user.id, for_update=True)
    ensure_another_admin_remains(admins, leaving=user)
    user.is_active = False
    await revoke_user_sessions(session, user_id=user.id)
