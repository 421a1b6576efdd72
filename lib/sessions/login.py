"""Login with a password, and logout."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ColumnElement, Select, String, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from lib.db import commit_now, dialect_name
from lib.errors import EmailNotVerified, InvalidCredentials, MfaRequired, TooManyRequests
from lib.events.record import record_event, record_failure
from lib.log import log_event
from lib.mfa.login import issue_mfa_token
from lib.models import SecurityEventType, User
from lib.security.digest import identifier_digest
from lib.security.throttle import (
    account_lock_sql,
    locking_in_order,
    login_limits,
    normalize_identifier,
    release_attempt,
    release_this_attempt,
    releasing,
    reserve_login_attempt,
)
from lib.sessions.lifecycle import end_user_sessions
from lib.sessions.schemas import ClientInfo, TokenPair
from lib.sessions.start import start_login_session
from lib.users.rows import ensure_verified, lock_unchanged, lock_user

THROTTLED = "Too many failed logins; try again later"
LOGIN_FAILED = SecurityEventType.LOGIN_FAILED


def failure_details(reason: str, *, user: User | None, identifier: str) -> dict[str, str]:
    """`details` of a failed login: the reason, and for an identifier that names no account its
    keyed digest (never what was typed)."""
    if user is not None:
        return {"reason": reason}
    return {"reason": reason, "identifier_digest": identifier_digest(normalize_identifier(identifier))}


_users = User.__table__  # type: ignore[attr-defined]
_IDENTIFIER = bindparam("identifier", type_=String())
_BY_EMAIL = _users.c.email == _IDENTIFIER
_BY_USERNAME = func.lower(_users.c.username) == _IDENTIFIER


def _finding(condition: ColumnElement[bool]) -> Select[User]:
    """The account an identifier names (or none), and on PostgreSQL, in the same statement, the
    locks of the counts the attempt goes under: the account's (or the typed identifier's, for no
    account: `unknown_lock`) and the client address's (`address_lock`, NULL for none), in
    `lib.security.throttle`'s order. The count itself is the next statement, whose snapshot comes
    after the locks (a statement's own snapshot is taken before the locks it waits for)."""
    account_lock = func.coalesce(
        select(account_lock_sql(_users.c.id)).where(condition).correlate(None).scalar_subquery(),
        bindparam("unknown_lock", type_=BigInteger()),
    )
    locked = locking_in_order([account_lock, bindparam("address_lock", type_=BigInteger())])
    return select(User).select_from(locked).outerjoin(User, condition)


# Built once at import: by email or username, on PostgreSQL (locking) or SQLite.
FIND_BY_EMAIL, FIND_BY_USERNAME = select(User).where(_BY_EMAIL), select(User).where(_BY_USERNAME)
FIND_AND_LOCK_BY_EMAIL, FIND_AND_LOCK_BY_USERNAME = _finding(_BY_EMAIL), _finding(_BY_USERNAME)


async def find_user_for_attempt(session: AsyncSession, *, identifier: str, ip_address: str | None) -> User | None:
    """The account `identifier` names: an email (contains '@', matched in the form sign-up stored
    it in) or a username (matched regardless of case). On PostgreSQL the same statement takes the
    locks of the attempt's counts (`FIND_AND_LOCK_*`); SQLite needs none."""
    identifier = normalize_identifier(identifier)
    by_email = "@" in identifier
    if dialect_name(session) != "postgresql":
        statement = FIND_BY_EMAIL if by_email else FIND_BY_USERNAME
        return (await session.execute(statement, {"identifier": identifier})).scalar_one_or_none()
    unknown, *address = login_limits(user_id=None, identifier=identifier, ip_address=ip_address)
    parameters = {
        "identifier": identifier,
        "unknown_lock": unknown.lock,
        "address_lock": address[0].lock if address else None,
    }
    statement = FIND_AND_LOCK_BY_EMAIL if by_email else FIND_AND_LOCK_BY_USERNAME
    return (await session.execute(statement, parameters)).scalar_one_or_none()


async def login(session: AsyncSession, *, identifier: str, password: str, client: ClientInfo) -> TokenPair:
    """Check the credentials, unless the account or the client address is throttled (429).

    The attempt is reserved (and committed) before any hashing, so that parallel attempts see
    it and no transaction stays open (holding a pooled server connection) while the hash is
    checked; a failure keeps it as the counted failure, a success gives it back. Every failure
    answers alike, a deactivated account with the right password included, so the answer never
    confirms a guess. An account with MFA on answers 403 `mfa_required` with an `mfa_token`.

    On PostgreSQL a successful login is 4 statements in two transactions: the account found
    with the counts' locks taken, the attempt recorded (and committed); after the hash check,
    the user's row locked, then one statement that gives the attempt back, makes room for the
    session and starts it.
    """
    user = await find_user_for_attempt(session, identifier=identifier, ip_address=client.ip_address)
    user_id = user.id if user else None
    try:
        reservation = await reserve_login_attempt(
            session,
            user_id=user_id,
            identifier=identifier,
            ip_address=client.ip_address,
            message=THROTTLED,
            locked=True,
        )
    except TooManyRequests:
        details = failure_details("throttled", user=user, identifier=identifier)
        await record_failure(session, type=LOGIN_FAILED, user_id=user_id, details=details)
        raise
    # Imported here so that refresh and logout, which need this module's neighbours but not
    # the hasher, never load it; the login function imports it at init (api/login.py).
    from lib.security.passwords import verify_password

    valid, new_hash = await verify_password(password, user.hashed_password if user else None)
    locked = await lock_unchanged(session, user) if user is not None and valid else None
    if locked is None or not locked.is_active:
        reason = "unknown_account" if user is None else "wrong_password" if not valid else "inactive_or_changed"
        log_event("login_failure", reason=reason, user_id=user_id, ip=client.ip_address)
        event_reason = "unknown_account" if user is None else "inactive" if locked else "invalid_credentials"
        details = failure_details(event_reason, user=user, identifier=identifier)
        await record_failure(session, type=LOGIN_FAILED, user_id=user_id, details=details)
        raise InvalidCredentials()
    if new_hash is not None:
        locked.hashed_password = new_hash
    if locked.mfa_enabled:
        # The right password alone never gives the account's count back (only a right code
        # does), or a thief of the password could guess codes without end.
        await release_this_attempt(session, reservation)
        mfa_token = issue_mfa_token(locked, client_id=client.client_id)  # bound to the new hash, if one was just set
        await commit_now(session)
        log_event("login_mfa_required", user_id=locked.id)
        raise MfaRequired(mfa_token)
    try:
        ensure_verified(locked.is_verified)
    except EmailNotVerified:
        # The right password: the attempt is not counted as a failure, but the account saw it.
        await release_attempt(session, reservation)
        await record_failure(session, type=LOGIN_FAILED, user_id=locked.id, details={"reason": "email_not_verified"})
        raise
    pair = await start_login_session(
        session, user=locked, client=client, event=SecurityEventType.LOGIN_SUCCEEDED, alongside=[releasing(reservation)]
    )
    log_event("login", user_id=locked.id, session_id=pair.session_id, ip=client.ip_address)
    return pair


async def end_all_sessions(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """End every session of the user: refresh tokens and earlier access tokens stop working,
    and so does a session that a racing login was creating."""
    user = await lock_user(session, user_id=user_id)
    if user is not None:
        await end_user_sessions(session, user=user)
    await record_event(session, type=SecurityEventType.SESSION_ENDED, user_id=user_id, details={"by": "logout"})
    log_event("logout", user_id=user_id)
