"""The signed-in user's own account: profile, password and deactivation."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from lib.accounts.email_tokens import retire_email_tokens
from lib.accounts.recovery import send_password_changed_notice
from lib.errors import InvalidPassword, TokenRevoked
from lib.log import log_event
from lib.models import EmailTokenPurpose, Role, User
from lib.security.password_policy import require_acceptable_password
from lib.security.passwords import hash_password, verify_password
from lib.sessions.throttle import release_attempt, reserve_login_attempt
from lib.sessions.tokens import ClientInfo, TokenPair, end_user_sessions, lock_user, start_session
from lib.users.admin import ensure_another_admin_remains, get_user, lock_active_admins
from lib.users.schemas import ChangePasswordRequest, UserUpdate

WRONG_PASSWORD_THROTTLED = "Too many wrong passwords; try again later"


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
    the same throttle as login, so a stolen access token cannot brute-force it. Outstanding
    reset links die with the old password.
    """
    require_acceptable_password(data.new_password, email=user.email, username=user.username)
    reservation = await reserve_login_attempt(
        session,
        identifier=user.email,
        ip_address=client.ip_address,
        message="Too many wrong passwords; try again later",
    )
    epoch, hashed = user.session_epoch, user.hashed_password
    valid, _ = await verify_password(data.current_password, hashed)
    if not valid:
        log_event("password_change_failure", user_id=user.id, ip=client.ip_address)
        raise InvalidPassword()
    new_hash = await hash_password(data.new_password)
    locked = await lock_user(session, user_id=user.id)
    if locked is None or locked.session_epoch != epoch or locked.hashed_password != hashed:
        raise TokenRevoked()  # a reset or another change ended this session meanwhile
    await release_attempt(session, reservation)
    locked.hashed_password = new_hash
    await end_user_sessions(session, user=locked)
    await retire_email_tokens(session, user_id=locked.id, purpose=EmailTokenPurpose.RESET_PASSWORD)
    pair = await start_session(session, user=locked, client=client)
    log_event("password_changed", user_id=locked.id, via="change")
    send_password_changed_notice(session, user=locked)
    return pair


async def deactivate_account(session: AsyncSession, *, user: User) -> None:
    """Soft delete: the account stays, but cannot log in and its tokens stop working."""
    admins = await lock_active_admins(session) if user.role == Role.ADMIN.value else set()
    user = await get_user(session, user_id=user.id, for_update=True)
    ensure_another_admin_remains(admins, leaving=user)
    user.is_active = False
    await end_user_sessions(session, user=user)
