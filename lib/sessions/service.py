"""Login, refresh-token rotation with reuse detection, and logout."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.config import get_settings
from lib.errors import (
    EmailNotVerified,
    InactiveUser,
    InvalidCredentials,
    InvalidToken,
    RefreshTokenReused,
    TokenRevoked,
    TooManyRequests,
)
from lib.log import log_event
from lib.models import AuthSession, RefreshToken, User, utcnow
from lib.security.digest import token_digest
from lib.security.tokens import decode_token
from lib.sessions.throttle import check_login_throttle, record_login_failure, reset_login_failures, throttle_keys
from lib.sessions.tokens import (
    ClientInfo,
    TokenPair,
    issue_token_pair,
    revoke_session,
    revoke_user_sessions,
    start_session,
)


async def find_user_by_login(session: AsyncSession, *, identifier: str) -> User | None:
    """`identifier` is an email (contains '@') or a username; both match regardless of case."""
    identifier = identifier.strip()
    if "@" in identifier:
        from lib.validation import normalize_email  # the form sign-up stored the address in

        condition = col(User.email) == normalize_email(identifier, strict=False)
    else:
        condition = func.lower(User.username) == identifier.lower()
    return (await session.execute(select(User).where(condition))).scalar_one_or_none()


async def login(session: AsyncSession, *, identifier: str, password: str, client: ClientInfo) -> TokenPair:
    """Check the credentials, unless the account or the client address is throttled (429).

    A failure is recorded under both keys and committed with the 401 (`persist`); a
    success clears the account's count. The throttle is checked before any hashing.
    """
    keys = throttle_keys(identifier=identifier, ip_address=client.ip_address)
    throttled, account_failures = await check_login_throttle(session, keys=keys)
    if throttled is not None:
        log_event("login_throttled", scope=throttled.scope, ip=client.ip_address, retry_after=throttled.retry_after)
        raise TooManyRequests(throttled.retry_after, "Too many failed logins; try again later")

    # Imported here so that refresh and logout, which share this module, never load the hasher;
    # the login function imports it at init (api/login.py).
    from lib.security.passwords import verify_password

    user = await find_user_by_login(session, identifier=identifier)
    valid, new_hash = await verify_password(password, user.hashed_password if user else None)
    if user is None or not valid or not user.is_active:
        await record_login_failure(session, keys=keys)
        reason = "unknown_account" if user is None else "wrong_password" if not valid else "inactive"
        log_event("login_failure", reason=reason, user_id=user.id if user else None, ip=client.ip_address)
        if user is not None and valid:
            raise InactiveUser("This account is deactivated")
        raise InvalidCredentials()
    if get_settings().REQUIRE_VERIFIED_EMAIL and not user.is_verified:
        raise EmailNotVerified()
    if account_failures:
        await reset_login_failures(session, keys=keys)
    if new_hash is not None:
        user.hashed_password = new_hash
    if get_settings().SINGLE_SESSION:
        await revoke_user_sessions(session, user_id=user.id)
    pair = await start_session(session, user=user, client=client)
    log_event("login", user_id=user.id, session_id=pair.session_id, ip=client.ip_address)
    return pair


async def rotate_refresh_token(session: AsyncSession, *, presented: str) -> TokenPair:
    """Consume `presented` and issue the next pair in its family.

    Consumption is one conditional UPDATE, so of concurrent requests with the same
    token exactly one wins. A token that was already consumed is reuse: the whole
    family is revoked (and that revocation is committed) before answering 401.
    """
    claims = decode_token(presented, "refresh")
    digest = token_digest(presented)
    consumed = (
        await session.execute(
            update(RefreshToken)
            .where(col(RefreshToken.token_hash) == digest, col(RefreshToken.used_at).is_(None))
            .values(used_at=utcnow())
            .returning(col(RefreshToken.session_id), col(RefreshToken.user_id))
        )
    ).first()
    if consumed is None:
        family = (
            await session.execute(select(col(RefreshToken.session_id)).where(col(RefreshToken.token_hash) == digest))
        ).scalar_one_or_none()
        if family is None:
            raise InvalidToken("Unknown refresh token")
        await revoke_session(session, session_id=family)
        log_event("refresh_reuse_detected", session_id=family)
        raise RefreshTokenReused()

    session_id, user_id = consumed
    if str(session_id) != claims["sid"] or str(user_id) != claims["sub"]:
        raise InvalidToken()
    row = (
        await session.execute(
            select(AuthSession, User)
            .join(User, col(User.id) == col(AuthSession.user_id))
            .where(col(AuthSession.id) == session_id)
        )
    ).first()
    if row is None:
        raise InvalidToken("Unknown refresh token")
    auth_session, user = row
    if auth_session.revoked_at is not None or not user.is_active:
        raise TokenRevoked()
    pair = issue_token_pair(session, user=user, auth_session=auth_session)
    await session.flush()
    return pair


async def logout(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """End every session of the user: refresh tokens and earlier access tokens stop working."""
    await revoke_user_sessions(session, user_id=user_id)
    log_event("logout", user_id=user_id)
