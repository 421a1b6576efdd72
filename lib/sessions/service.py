"""Login, refresh-token rotation with reuse detection, and logout."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.config import get_settings
from lib.db import commit_now
from lib.errors import EmailNotVerified, InvalidCredentials, InvalidToken, RefreshTokenReused, TokenRevoked
from lib.log import log_event
from lib.mfa.login import require_second_factor
from lib.models import RefreshToken, User, utcnow
from lib.security.tokens import decode_token, refresh_token_expiry, token_amr
from lib.sessions import rotation
from lib.sessions.lifecycle import (
    end_user_sessions,
    issue_token_pair,
    lock_user,
    revoke_session,
    revoke_user_sessions,
    start_session,
)
from lib.sessions.schemas import ClientInfo, TokenPair
from lib.sessions.throttle import login_limits, normalize_identifier, record_attempt, release_attempt


async def find_user_by_login(session: AsyncSession, *, identifier: str) -> User | None:
    """`identifier` is an email (contains '@', matched in the form sign-up stored it in) or a
    username (matched regardless of case)."""
    identifier = normalize_identifier(identifier)
    if "@" in identifier:
        condition = col(User.email) == identifier
    else:
        condition = func.lower(User.username) == identifier
    return (await session.execute(select(User).where(condition))).scalar_one_or_none()


async def _lock_unchanged(session: AsyncSession, user: User) -> User | None:
    """Lock the user's row and return it, unless its password or session epoch changed since
    `user` was read: a login whose password check raced a reset or a change must not start a
    session (the password it checked may be the old one)."""
    epoch, hashed = user.session_epoch, user.hashed_password
    locked = await lock_user(session, user_id=user.id)
    if locked is None or locked.session_epoch != epoch or locked.hashed_password != hashed:
        return None
    return locked


async def login(session: AsyncSession, *, identifier: str, password: str, client: ClientInfo) -> TokenPair:
    """Check the credentials, unless the account or the client address is throttled (429).

    The attempt is reserved (and committed) before any hashing; a failure keeps it as the
    counted failure, a success gives it back. Every failure answers alike, a deactivated
    account with the right password included, so the answer never confirms a guess.
    """
    user = await find_user_by_login(session, identifier=identifier)
    reservation = await record_attempt(
        session,
        login_limits(identifier=identifier, ip_address=client.ip_address),
        message="Too many failed logins; try again later",
        event="login_throttled",
    )
    # From here on the attempt counts whatever the check finds, and parallel attempts see it;
    # no transaction stays open (holding a pooled server connection) while the hash is checked.
    await commit_now(session)
    # Imported here so that refresh and logout, which share this module, never load the hasher;
    # the login function imports it at init (api/login.py).
    from lib.security.passwords import verify_password

    valid, new_hash = await verify_password(password, user.hashed_password if user else None)
    locked = await _lock_unchanged(session, user) if user is not None and valid else None
    if locked is None or not locked.is_active:
        reason = "unknown_account" if user is None else "wrong_password" if not valid else "inactive_or_changed"
        log_event("login_failure", reason=reason, user_id=user.id if user else None, ip=client.ip_address)
        raise InvalidCredentials()
    user = locked
    if user.mfa_enabled:
        raise await require_second_factor(session, user=user, reservation=reservation, new_hash=new_hash)
    await release_attempt(session, reservation)
    if get_settings().REQUIRE_VERIFIED_EMAIL and not user.is_verified:
        await commit_now(session)  # the right password: the attempt is not a failure
        raise EmailNotVerified()
    if new_hash is not None:
        user.hashed_password = new_hash
    if get_settings().SINGLE_SESSION:
        await revoke_user_sessions(session, user_id=user.id)
    pair = await start_session(session, user=user, client=client)
    log_event("login", user_id=user.id, session_id=pair.session_id, ip=client.ip_address)
    return pair


def _uuid_claim(claims: dict[str, Any], name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(claims[name]))
    except (KeyError, ValueError):
        raise InvalidToken() from None


async def _within_grace(session: AsyncSession, *, token_id: uuid.UUID, used_at: datetime | None) -> bool:
    """Whether a consumed token presented again is the immediately previous one of its family,
    within `REFRESH_REUSE_GRACE_SECONDS` of its rotation: a retry, or a second tab. It is not
    once any token issued in exchange for it has itself been used."""
    grace = get_settings().REFRESH_REUSE_GRACE_SECONDS
    if grace <= 0 or used_at is None or used_at + timedelta(seconds=grace) < utcnow():
        return False
    successor_used = (
        await session.execute(
            select(col(RefreshToken.id))
            .where(col(RefreshToken.parent_id) == token_id, col(RefreshToken.used_at).is_not(None))
            .limit(1)
        )
    ).first()
    return successor_used is None


async def rotate_refresh_token(session: AsyncSession, *, presented: str) -> TokenPair:
    """Consume `presented` and issue the next pair in its session.

    The token is identified by its `jti`. Consumption is one conditional UPDATE, so of
    concurrent requests with the same token exactly one consumes it; the others are within
    the grace window (each gets a pair in the same session) or are reuse: the whole family
    is revoked (and that revocation is committed) before answering 401.
    """
    claims = decode_token(presented, "refresh")
    token_id, session_id, user_id = (_uuid_claim(claims, name) for name in ("jti", "sid", "sub"))
    now, issued_at = utcnow(), int(time.time())
    parameters = {
        "presented_jti": token_id,
        "sid": session_id,
        "sub": user_id,
        "rotated_at": now,
        "new_expiry": datetime.fromtimestamp(refresh_token_expiry(issued_at), UTC),
    }
    consumed, moved = await rotation.consume(session, parameters)
    if not consumed:
        used_at = (
            await session.execute(
                select(col(RefreshToken.used_at)).where(
                    col(RefreshToken.id) == token_id,
                    col(RefreshToken.session_id) == session_id,
                    col(RefreshToken.user_id) == user_id,
                )
            )
        ).first()
        if used_at is None:
            raise InvalidToken("Unknown refresh token")
        if not await _within_grace(session, token_id=token_id, used_at=used_at[0]):
            await revoke_session(session, session_id=session_id)
            await commit_now(session)  # the revocation stands although the request fails
            log_event("refresh_reuse_detected", session_id=session_id)
            raise RefreshTokenReused()
        log_event("refresh_retried_within_grace", session_id=session_id)
        moved = await rotation.move_on(session, parameters)
    if moved is None:
        raise TokenRevoked()
    role, is_verified = moved
    if get_settings().REQUIRE_VERIFIED_EMAIL and not is_verified:
        raise EmailNotVerified()
    return await issue_token_pair(
        session,
        user_id=user_id,
        role=role,
        session_id=session_id,
        parent_id=token_id,
        amr=token_amr(claims),
        issued_at=issued_at,
    )


async def logout(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """End every session of the user: refresh tokens and earlier access tokens stop working,
    and so does a session that a racing login was creating."""
    user = await lock_user(session, user_id=user_id)
    if user is not None:
        await end_user_sessions(session, user=user)
    log_event("logout", user_id=user_id)
