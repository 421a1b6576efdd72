"""Issuing a token pair for a session, and ending sessions.

Sessions end for good: every change that must end a user's sessions (password change or
reset, deactivation, demotion, logout) locks the user's row (`lib.users.rows.lock_user`) and
raises its `session_epoch`; a session is live only while its `epoch` equals the user's. One
lock order everywhere: the user's row first, then its sessions, refresh tokens and email links.
"""

from __future__ import annotations

import functools
import hmac
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Executable, Insert, Integer, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.config import get_settings
from lib.db import dialect_name
from lib.events.record import EVENT_COLUMNS, EVENTS, event_row
from lib.models import AuthSession, RefreshToken, SecurityEventType, User, utcnow
from lib.security.digest import token_digest
from lib.security.tokens import PASSWORD_ONLY, create_access_token, create_refresh_token
from lib.sessions.schemas import ClientInfo, TokenPair


def _signed_pair(
    *,
    user_id: uuid.UUID,
    role: str,
    session_id: uuid.UUID,
    parent_id: uuid.UUID | None,
    amr: tuple[str, ...],
    issued_at: int | None,
    client_id: str | None,
    jti: uuid.UUID | None = None,
) -> tuple[TokenPair, dict[str, Any]]:
    """A new access token and a refresh token (a new one, or the one `jti` names signed again) in
    the session, and the refresh token's row to record."""
    jti = jti or uuid.uuid4()
    refresh = create_refresh_token(
        user_id=user_id, session_id=session_id, jti=jti, amr=amr, issued_at=issued_at, client_id=client_id
    )
    access = create_access_token(user_id=user_id, role=role, session_id=session_id, amr=amr, client_id=client_id)
    expires_at = datetime.fromtimestamp(refresh.expires_at, UTC)
    pair = TokenPair(
        access_token=access.token,
        refresh_token=refresh.token,
        expires_in=access.expires_at - access.issued_at,
        session_id=session_id,
        refresh_expires_at=expires_at,
    )
    row = {
        "id": jti,
        "user_id": user_id,
        "session_id": session_id,
        "token_hash": token_digest(refresh.token),
        "expires_at": expires_at,
        "issued_at": refresh.issued_at,
        "parent_id": parent_id,
    }
    return pair, row


async def issue_token_pair(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    role: str,
    session_id: uuid.UUID,
    parent_id: uuid.UUID | None = None,
    amr: tuple[str, ...] = PASSWORD_ONLY,
    issued_at: int | None = None,
    client_id: str | None = None,
) -> TokenPair:
    """Sign a new access and refresh token in the session and record the refresh token."""
    pair, row = _signed_pair(
        user_id=user_id,
        role=role,
        session_id=session_id,
        parent_id=parent_id,
        amr=amr,
        issued_at=issued_at,
        client_id=client_id,
    )
    await session.execute(insert(RefreshToken.__table__).values(**row))  # type: ignore[attr-defined]
    return pair


def reissue_token_pair(
    *,
    user_id: uuid.UUID,
    role: str,
    session_id: uuid.UUID,
    amr: tuple[str, ...],
    client_id: str,
    token: RefreshToken,
) -> TokenPair | None:
    """A new access token with the refresh token `token` records, signed again: the very token
    that was issued (RS256 signatures are deterministic). None when it cannot be reproduced (a
    row from before `issued_at` was kept, or the refresh lifetime changed since)."""
    if token.issued_at is None:
        return None
    pair, row = _signed_pair(
        user_id=user_id,
        role=role,
        session_id=session_id,
        parent_id=token.parent_id,
        amr=amr,
        issued_at=token.issued_at,
        client_id=client_id,
        jti=token.id,
    )
    return pair if hmac.compare_digest(row["token_hash"], token.token_hash) else None


_sessions = AuthSession.__table__  # type: ignore[attr-defined]
_tokens = RefreshToken.__table__  # type: ignore[attr-defined]

# The statements that start a session on PostgreSQL, built once: the session's INSERT in a
# data-modifying CTE feeds its first refresh token's, beside the security event's. Parameters
# are never named like a column (in an INSERT or UPDATE executed with a parameter named like a
# column of its table, SQLAlchemy sets that column).
_NEW_SESSION = (
    insert(_sessions)
    .values(
        id=bindparam("new_session_id", type_=_sessions.c.id.type),
        user_id=bindparam("owner", type_=_sessions.c.user_id.type),
        user_agent=bindparam("client_agent", type_=_sessions.c.user_agent.type),
        ip_address=bindparam("client_address", type_=_sessions.c.ip_address.type),
        last_used_at=bindparam("now", type_=_sessions.c.last_used_at.type),
        expires_at=bindparam("refresh_expiry", type_=_sessions.c.expires_at.type),
        epoch=bindparam("owner_epoch", type_=_sessions.c.epoch.type),
    )
    .returning(_sessions.c.id)
    .cte("new_session")
)
_TOKEN_PARAMETERS = {
    "id": "new_token_id",
    "user_id": "owner",
    "token_hash": "new_token_hash",
    "expires_at": "refresh_expiry",
    "issued_at": "token_issued_at",
    "parent_id": "token_parent_id",
}
_EVENT_PARAMETERS = {name: f"event_{name}" for name in EVENT_COLUMNS if name not in {"user_id", "session_id"}}
_STARTED = (
    insert(EVENTS)
    .values(
        user_id=bindparam("owner", type_=EVENTS.c.user_id.type),
        session_id=bindparam("new_session_id", type_=EVENTS.c.session_id.type),
        **{name: bindparam(parameter, type_=EVENTS.c[name].type) for name, parameter in _EVENT_PARAMETERS.items()},
    )
    .cte("event")
)
_START = insert(_tokens).from_select(
    ["session_id", *_TOKEN_PARAMETERS],
    select(
        _NEW_SESSION.c.id,
        *(bindparam(parameter, type_=_tokens.c[name].type) for name, parameter in _TOKEN_PARAMETERS.items()),
    ),
)


@functools.cache
def _starting(alongside: tuple[Executable, ...]) -> Insert:
    """`_START` with the statements `alongside` as data-modifying CTEs of their own."""
    statement = _START.add_cte(_STARTED)
    for index, other in enumerate(alongside):
        statement = statement.add_cte(other.cte(f"alongside_{index}"))  # type: ignore[attr-defined]
    return statement


Alongside = tuple[Executable, dict[str, Any]]


async def start_session(
    session: AsyncSession,
    *,
    user: User,
    client: ClientInfo,
    event: SecurityEventType,
    amr: tuple[str, ...] = PASSWORD_ONLY,
    alongside: Sequence[Alongside] = (),
) -> TokenPair:
    """A new session under the user's current epoch, its first token pair for the client that
    `client.client_id` names (every pair of the session carries it on), and the security `event`
    that started it (its details: the factors, `amr`). The caller holds the user's row lock (or
    has just created the user), so no epoch change can slip in before it commits.

    `alongside`: statements (with their parameters, named apart from these) that go with it, run
    first: the release of the login's throttle reservation, `making_room`'s revocations.

    On PostgreSQL all of it is one statement (the token's INSERT reads the session's from a
    data-modifying CTE, beside the event's and those `alongside`; all read the snapshot taken
    after the user's row lock); SQLite runs them one after the other.
    """
    await session.flush()  # the user's pending changes (a new account, a new hash) go first
    issued_at, session_id = int(time.time()), uuid.uuid4()
    pair, token = _signed_pair(
        user_id=user.id,
        role=user.role,
        session_id=session_id,
        parent_id=None,
        amr=amr,
        issued_at=issued_at,
        client_id=client.client_id,
    )
    row = event_row(session, type=event, user_id=user.id, session_id=session_id, details={"amr": list(amr)})
    now = utcnow()  # to the microsecond (SQLite's now() has seconds), for `making_room`
    user_agent = (client.user_agent or None) and client.user_agent[:255]
    if dialect_name(session) != "postgresql":
        for statement, parameters in alongside:
            await session.execute(statement, parameters)
        await session.execute(
            insert(_sessions).values(
                id=session_id,
                user_id=user.id,
                user_agent=user_agent,
                ip_address=client.ip_address,
                last_used_at=now,
                expires_at=pair.refresh_expires_at,
                epoch=user.session_epoch,
            )
        )
        await session.execute(insert(_tokens).values(**token))
        await session.execute(insert(EVENTS).values(**row))
        return pair
    values: dict[str, Any] = {
        "new_session_id": session_id,
        "owner": user.id,
        "client_agent": user_agent,
        "client_address": client.ip_address,
        "now": now,
        "refresh_expiry": pair.refresh_expires_at,
        "owner_epoch": user.session_epoch,
        **{parameter: token[name] for name, parameter in _TOKEN_PARAMETERS.items()},
        **{parameter: row[name] for name, parameter in _EVENT_PARAMETERS.items()},
    }
    for _statement, extra in alongside:
        values.update(extra)
    await session.execute(_starting(tuple(statement for statement, _ in alongside)), values)
    return pair


# Ending the user's other sessions (`SINGLE_SESSION`), or the least recently used ones beyond
# the cap; parameters `owner`, `revoked` (now), `owner_epoch`, `keep_live` (the cap less one).
_REVOKE_ALL = (
    update(_sessions)
    .where(_sessions.c.user_id == bindparam("owner"), _sessions.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("revoked", type_=_sessions.c.revoked_at.type))
)
_BEYOND_THE_CAP = (
    update(_sessions)
    .where(
        _sessions.c.id.in_(
            select(_sessions.c.id)
            .where(
                _sessions.c.user_id == bindparam("owner"),
                _sessions.c.revoked_at.is_(None),
                _sessions.c.epoch == bindparam("owner_epoch"),
                _sessions.c.expires_at > bindparam("revoked", type_=_sessions.c.expires_at.type),
            )
            .order_by(_sessions.c.last_used_at.desc())
            .offset(bindparam("keep_live", type_=Integer()))
        )
    )
    .values(revoked_at=bindparam("revoked", type_=_sessions.c.revoked_at.type))
)


def making_room(user: User) -> Alongside:
    """What makes room for a new session of `user` (for `start_session`'s `alongside`): with
    `SINGLE_SESSION` every other session of the user ends; otherwise the least recently used ones
    end, so that the user holds at most `MAX_SESSIONS_PER_USER` live sessions with the new one.
    The caller holds the user's row lock, so parallel logins count each other's sessions."""
    settings = get_settings()
    parameters: dict[str, Any] = {"owner": user.id, "revoked": utcnow()}
    if settings.SINGLE_SESSION:
        return _REVOKE_ALL, parameters
    return _BEYOND_THE_CAP, {
        **parameters,
        "owner_epoch": user.session_epoch,
        "keep_live": settings.MAX_SESSIONS_PER_USER - 1,
    }


async def end_user_sessions(session: AsyncSession, *, user: User) -> None:
    """End every session of `user` for good, including one that a racing login or refresh is
    creating: its epoch no longer matches. The caller holds the user's row lock."""
    user.session_epoch += 1
    await revoke_user_sessions(session, user_id=user.id)


async def end_other_sessions(session: AsyncSession, *, user: User, keep: uuid.UUID) -> bool:
    """End every session of `user` for good but `keep` (the caller's), which moves on to the new
    epoch: a second-factor change signs out everyone else. False when `keep` itself was no longer
    live (then it stays dead). The caller holds the user's row lock."""
    old_epoch = user.session_epoch
    user.session_epoch += 1
    await revoke_user_sessions(session, user_id=user.id, keep=keep)
    kept = await session.execute(
        update(AuthSession)
        .where(
            col(AuthSession.id) == keep,
            col(AuthSession.user_id) == user.id,
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.epoch) == old_epoch,
        )
        .values(epoch=user.session_epoch)
        .returning(col(AuthSession.id))
    )
    return kept.first() is not None


async def revoke_user_sessions(session: AsyncSession, *, user_id: uuid.UUID, keep: uuid.UUID | None = None) -> None:
    """Revoke every live session of the user (but `keep`); their access tokens die with them."""
    statement = (
        update(AuthSession)
        .where(col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    if keep is not None:
        statement = statement.where(col(AuthSession.id) != keep)
    await session.execute(statement)


async def revoke_session(session: AsyncSession, *, session_id: uuid.UUID) -> uuid.UUID | None:
    """Revoke the session if it is live; its user's id, or None when there was nothing to revoke."""
    revoked = await session.execute(
        update(AuthSession)
        .where(col(AuthSession.id) == session_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
        .returning(col(AuthSession.user_id))
    )
    return revoked.scalar_one_or_none()
