"""Starting a session: the session, its first token pair and the security event that started
it, written in one statement on PostgreSQL, with what must go with it (room made for it, a
login's throttle reservation given back).

The statements are built once at import. Their parameters are never named like a column: in an
INSERT or UPDATE executed with a parameter named like a column of its table, SQLAlchemy sets
that column.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Executable, Insert, Integer, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lib.config import get_settings
from lib.db import dialect_name
from lib.events.record import EVENT_COLUMNS, EVENTS, event_row
from lib.models import AuthSession, RefreshToken, SecurityEventType, User, utcnow
from lib.security.tokens import PASSWORD_ONLY
from lib.sessions.lifecycle import signed_pair
from lib.sessions.schemas import ClientInfo, TokenPair

_sessions = AuthSession.__table__  # type: ignore[attr-defined]
_tokens = RefreshToken.__table__  # type: ignore[attr-defined]

# The three rows, each from its parameters.
SESSION_ROW = insert(_sessions).values(
    id=bindparam("new_session_id", type_=_sessions.c.id.type),
    user_id=bindparam("owner", type_=_sessions.c.user_id.type),
    user_agent=bindparam("client_agent", type_=_sessions.c.user_agent.type),
    ip_address=bindparam("client_address", type_=_sessions.c.ip_address.type),
    last_used_at=bindparam("now", type_=_sessions.c.last_used_at.type),
    expires_at=bindparam("refresh_expiry", type_=_sessions.c.expires_at.type),
    epoch=bindparam("owner_epoch", type_=_sessions.c.epoch.type),
)
_TOKEN_PARAMETERS = {
    "id": "new_token_id",
    "user_id": "owner",
    "token_hash": "new_token_hash",
    "expires_at": "refresh_expiry",
    "issued_at": "token_issued_at",
    "parent_id": "token_parent_id",
}
_token_values = {
    name: bindparam(parameter, type_=_tokens.c[name].type) for name, parameter in _TOKEN_PARAMETERS.items()
}
TOKEN_ROW = insert(_tokens).values(
    session_id=bindparam("new_session_id", type_=_tokens.c.session_id.type), **_token_values
)
_EVENT_PARAMETERS = {name: f"event_{name}" for name in EVENT_COLUMNS if name not in {"user_id", "session_id"}}
EVENT_ROW = insert(EVENTS).values(
    user_id=bindparam("owner", type_=EVENTS.c.user_id.type),
    session_id=bindparam("new_session_id", type_=EVENTS.c.session_id.type),
    **{name: bindparam(parameter, type_=EVENTS.c[name].type) for name, parameter in _EVENT_PARAMETERS.items()},
)

# All three in one statement on PostgreSQL: the token's INSERT reads the session's id from a
# data-modifying CTE, beside the event's.
_new_session = SESSION_ROW.returning(_sessions.c.id).cte("new_session")
_START = (
    insert(_tokens)
    .from_select(["session_id", *_token_values], select(_new_session.c.id, *_token_values.values()))
    .add_cte(EVENT_ROW.cte("event"))
)


@functools.cache
def _starting(alongside: tuple[Executable, ...]) -> Insert:
    """`_START` with the statements `alongside` as data-modifying CTEs of their own."""
    statement = _START
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

    On PostgreSQL all of it is one statement (data-modifying CTEs, all reading the snapshot
    taken after the user's row lock); SQLite runs the same statements one after the other.
    """
    await session.flush()  # the user's pending changes (a new account, a new hash) go first
    session_id = uuid.uuid4()
    pair, token = signed_pair(
        user_id=user.id,
        role=user.role,
        session_id=session_id,
        parent_id=None,
        amr=amr,
        issued_at=int(time.time()),
        client_id=client.client_id,
    )
    row = event_row(session, type=event, user_id=user.id, session_id=session_id, details={"amr": list(amr)})
    values: dict[str, Any] = {
        "new_session_id": session_id,
        "owner": user.id,
        "client_agent": (client.user_agent or None) and client.user_agent[:255],
        "client_address": client.ip_address,
        "now": utcnow(),  # to the microsecond (SQLite's now() has seconds), for `making_room`
        "refresh_expiry": pair.refresh_expires_at,
        "owner_epoch": user.session_epoch,
        **{parameter: token[name] for name, parameter in _TOKEN_PARAMETERS.items()},
        **{parameter: row[name] for name, parameter in _EVENT_PARAMETERS.items()},
    }
    for _statement, extra in alongside:
        values.update(extra)
    if dialect_name(session) == "postgresql":
        await session.execute(_starting(tuple(statement for statement, _ in alongside)), values)
        return pair
    for statement in (*(statement for statement, _ in alongside), SESSION_ROW, TOKEN_ROW, EVENT_ROW):
        await session.execute(statement, values)
    return pair


async def start_login_session(
    session: AsyncSession,
    *,
    user: User,
    client: ClientInfo,
    event: SecurityEventType,
    amr: tuple[str, ...] = PASSWORD_ONLY,
    alongside: Sequence[Alongside] = (),
) -> TokenPair:
    """`start_session` for a sign-in (password, second factor, passkey), which makes room for the
    new session first (`making_room`)."""
    also = (*alongside, making_room(user))
    return await start_session(session, user=user, client=client, event=event, amr=amr, alongside=also)


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
