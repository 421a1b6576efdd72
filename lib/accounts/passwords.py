"""Passwords: changing one (signed in, with the current one), asking for a reset link by
email, setting a new one with it, and the notice that a password was changed."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.accounts.links import (
    consume_email_token,
    find_email_token_user,
    queue_link_email,
    retire_email_tokens,
    seconds_until_next_email,
)
from lib.config import get_settings
from lib.email.outbox import publish_in_any_case, queue_email
from lib.errors import EmailTokenInvalid, InvalidPassword, TokenRevoked
from lib.events.record import record_event, record_failure
from lib.log import log_event
from lib.models import EmailKind, EmailTokenPurpose, SecurityEventType, User, utcnow
from lib.security.digest import identifier_digest
from lib.security.password_policy import require_acceptable_password
from lib.security.passwords import hash_password, verify_password
from lib.security.throttle import (
    address_limits,
    clear_account_failures,
    release_attempt,
    reserve_attempt,
    reserve_login_attempt,
)
from lib.security.tokens import PASSWORD_ONLY
from lib.sessions.lifecycle import end_user_sessions
from lib.sessions.schemas import ClientInfo, TokenPair
from lib.sessions.start import start_session
from lib.users.rows import lock_unchanged, lock_user
from lib.users.schemas import ChangePasswordRequest

RESET = EmailTokenPurpose.RESET_PASSWORD


async def change_password(
    session: AsyncSession,
    *,
    user: User,
    data: ChangePasswordRequest,
    client: ClientInfo,
    amr: tuple[str, ...] = PASSWORD_ONLY,
) -> TokenPair:
    """Replace the password, end every session (the caller's too) and sign in afresh.

    A wrong current password is a password guess: it counts toward (and is refused by)
    the same throttle as login, so a stolen access token cannot brute-force it. Outstanding
    reset links die with the old password.
    """
    require_acceptable_password(data.new_password, email=user.email, username=user.username)
    reservation = await reserve_login_attempt(
        session,
        user_id=user.id,
        ip_address=client.ip_address,
        message="Too many wrong passwords; try again later",
    )
    valid, _ = await verify_password(data.current_password, user.hashed_password)
    if not valid:
        log_event("password_change_failure", user_id=user.id, ip=client.ip_address)
        details = {"reason": "invalid_credentials", "during": "password_change"}
        await record_failure(session, type=SecurityEventType.LOGIN_FAILED, user_id=user.id, details=details)
        raise InvalidPassword()
    new_hash = await hash_password(data.new_password)
    locked = await lock_unchanged(session, user)
    if locked is None:
        raise TokenRevoked()  # a reset or another change ended this session meanwhile
    await release_attempt(session, reservation)
    locked.hashed_password = new_hash
    await end_user_sessions(session, user=locked)
    await retire_email_tokens(session, user_id=locked.id, purpose=RESET)
    pair = await start_session(session, user=locked, client=client, event=SecurityEventType.PASSWORD_CHANGED, amr=amr)
    log_event("password_changed", user_id=locked.id, via="change")
    send_password_changed_notice(session, user=locked)
    return pair


async def request_password_reset(session: AsyncSession, *, email: str, ip_address: str | None) -> None:
    """Email a reset link when `email` names an active account, at most once per
    `EMAIL_THROTTLE_SECONDS`; otherwise do nothing that shows. Each client address may ask
    `FORGOT_PASSWORD_MAX_PER_IP` times per `ADDRESS_LIMIT_WINDOW_SECONDS` (429 beyond).

    The caller answers alike in every case. For an unknown or inactive address the
    same queries run, and the email is sent after the answer (through a queue that gets a
    message either way, on Lambda), so the answer takes as long for an unknown address.
    """
    limit = get_settings().FORGOT_PASSWORD_MAX_PER_IP
    await reserve_attempt(
        session,
        address_limits("forgot-password", ip_address=ip_address, limit=limit),
        message="Too many reset requests from this address; try again later",
    )
    publish_in_any_case(session)  # on a queue, the same work whether or not an email is queued
    user_id = (await session.execute(select(col(User.id)).where(col(User.email) == email.lower()))).scalar()
    user = await lock_user(session, user_id=user_id or uuid.uuid4())  # the same queries for an unknown address
    # Written for an unknown address too (its keyed digest): the same statements either way.
    details = {} if user is not None else {"identifier_digest": identifier_digest(email.strip().lower())}
    await record_event(session, type=SecurityEventType.PASSWORD_RESET_REQUESTED, user_id=user_id, details=details)
    if user is None or not user.is_active:
        await seconds_until_next_email(session, user_id=uuid.uuid4(), purpose=RESET)
        return
    if await seconds_until_next_email(session, user_id=user.id, purpose=RESET):
        return
    settings = get_settings()
    queue_link_email(
        session,
        user=user,
        purpose=RESET,
        lifetime=timedelta(minutes=settings.RESET_TOKEN_EXPIRE_MINUTES),
        subject=f"Reset your {settings.APP_NAME} password",
    )


async def reset_password(session: AsyncSession, *, token: str, new_password: str) -> None:
    """Set a new password with a reset token; 400 when the token is invalid, expired or used.

    Every session of the user ends for good (so earlier access and refresh tokens stop
    working, and a login racing the reset gets no session), every other reset link dies,
    the account's failed logins are forgotten, and the address counts as verified, since
    the link reached its owner. A notice is emailed afterwards.
    """
    user = await session.get(User, await find_email_token_user(session, token=token, purpose=RESET))
    if user is None or not user.is_active:
        raise EmailTokenInvalid()
    require_acceptable_password(new_password, email=user.email, username=user.username)
    new_hash = await hash_password(new_password)  # before any lock: hashing is the slow part
    user = await lock_user(session, user_id=user.id)
    if user is None or not user.is_active:
        raise EmailTokenInvalid()
    await consume_email_token(session, token=token, purpose=RESET)
    user.hashed_password = new_hash
    user.is_verified = True
    await retire_email_tokens(session, user_id=user.id, purpose=RESET)
    await end_user_sessions(session, user=user)
    await clear_account_failures(session, user_id=user.id)
    await record_event(session, type=SecurityEventType.PASSWORD_RESET, user_id=user.id)
    await session.flush()
    log_event("password_changed", user_id=user.id, via="reset")
    send_password_changed_notice(session, user=user)


def send_password_changed_notice(session: AsyncSession, *, user: User) -> None:
    """Tell the owner that the password changed, in case it was not them."""
    changed_at = utcnow().strftime("%d %B %Y at %H:%M UTC").lstrip("0")
    queue_email(
        session,
        kind=EmailKind.PASSWORD_CHANGED,
        user=user,
        subject=f"Your {get_settings().APP_NAME} password was changed",
        data={"changed_at": changed_at},
    )
