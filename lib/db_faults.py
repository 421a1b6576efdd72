"""What a database error means for the answer: the database cannot serve us now (503), or the
transaction lost a race and may run again (the retry)."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

# SQLSTATEs of a database that refuses or drops connections, or is going away: class 08
# (connection exceptions; PgBouncer sends 08P01 for its own refusals: "no more connections
# allowed", "pgbouncer cannot connect to server", "query_wait_timeout"), too_many_connections,
# configuration_limit_exceeded, and the shutdown codes (admin_shutdown, crash_shutdown,
# cannot_connect_now, database_dropped).
_UNAVAILABLE_SQLSTATES = frozenset({"53300", "53400", "57P01", "57P02", "57P03", "57P04"})
_UNAVAILABLE_SQLSTATE_CLASSES = ("08",)
# What drivers say when a connection closed under them (asyncpg's InterfaceError has no SQLSTATE).
_CLOSED_CONNECTION = ("connection is closed", "connection was closed", "underlying connection is closed")


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc`, the driver's exception SQLAlchemy wraps (`orig`, an adapter class for asyncpg),
    and what each was raised from (the adapter's `__cause__` is asyncpg's own exception); not
    what was merely being handled when it was raised (`__context__`)."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending and len(seen) < 16:
        current = pending.pop(0)
        if current is None or any(current is known for known in seen):
            continue
        seen.append(current)
        orig = getattr(current, "orig", None)
        pending += [orig if isinstance(orig, BaseException) else None, current.__cause__]
    return seen


def _sqlstate(exc: BaseException) -> str | None:
    for name in ("sqlstate", "pgcode"):
        code = getattr(exc, name, None)
        if isinstance(code, str) and code:
            return code
    return None


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says that the database (or the pooler in front of it) cannot serve us now:
    a refused, dropped or timed-out connection, or a refusal by SQLSTATE. Such a request is
    answered 503 with Retry-After, never 500."""
    for cause in _causes(exc):
        if isinstance(cause, (OSError, TimeoutError, sa_exc.OperationalError, sa_exc.InterfaceError)):
            return True
        if isinstance(cause, sa_exc.DBAPIError) and cause.connection_invalidated:
            return True
        code = _sqlstate(cause)
        if code is not None and (code in _UNAVAILABLE_SQLSTATES or code.startswith(_UNAVAILABLE_SQLSTATE_CLASSES)):
            return True
        if type(cause).__name__ == "InterfaceError" and any(text in str(cause).lower() for text in _CLOSED_CONNECTION):
            return True
    return False


# PostgreSQL's deadlock_detected and serialization_failure: the transaction lost a race and
# may simply run again (lib.middleware.RetryOnConflictMiddleware does).
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


class TransactionConflict(Exception):
    """Raised by the error handler for a deadlock or serialization failure, for the retry."""


def is_retryable_conflict(exc: BaseException) -> bool:
    if not isinstance(exc, sa_exc.DBAPIError) or exc.orig is None:
        return False
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES
