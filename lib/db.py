"""Async engine and the per-request session that owns the transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from sqlalchemy import event, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from lib.config import get_settings
from lib.email.outbox import drop_emails, hand_over, release_emails

# libpq parameters that asyncpg does not take, and what they become.
_SSLMODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
_DROPPED_PARAMS = {"channel_binding", "sslrootcert", "sslcert", "sslkey", "gssencmode", "pgbouncer", "connection_limit"}


def normalize_database_url(url: str) -> tuple[str, dict[str, Any]]:
    """Turn a provider URL into (SQLAlchemy URL, asyncpg connect arguments).

    `postgres://` and `postgresql://` become `postgresql+asyncpg://`; `sslmode=...`
    becomes asyncpg's `ssl`; libpq-only parameters are dropped.
    """
    url = url.strip()
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite":
        return f"sqlite+aiosqlite://{rest}", {}
    if scheme not in {"postgres", "postgresql", "postgresql+asyncpg", "postgresql+psycopg", "postgresql+psycopg2"}:
        return url, {}
    parts = urlsplit(f"postgresql+asyncpg://{rest}")

    connect_args: dict[str, Any] = {}
    kept = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "sslmode":
            if value not in _SSLMODES:
                raise ValueError(f"DATABASE_URL: unknown sslmode {value!r}")
            connect_args["ssl"] = value
        elif name == "connect_timeout":
            connect_args["timeout"] = float(value)
        elif name == "application_name":
            connect_args.setdefault("server_settings", {})["application_name"] = value
        elif name not in _DROPPED_PARAMS:
            kept.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), connect_args


def _unnamed_statement() -> str:
    return ""


# Cancel requests a terminated connection left in flight, kept referenced until they finish.
_CANCELS_IN_FLIGHT: set[asyncio.Task[Any]] = set()


class PatientCancelConnection(asyncpg.Connection):  # type: ignore[misc]
    """An asyncpg connection that, when terminated, lets its in-flight cancel requests finish.

    A statement past its command timeout is cancelled by a CancelRequest sent over a second
    connection. asyncpg cancels that request's task when the connection is terminated (as
    SQLAlchemy does with a connection it gives up on), hanging up on the pooler mid-cancel:
    PgBouncer 1.18.0 (Debian 12's) then aborts with `disconnect_client(): bad client state`
    (its bug #801, fixed in 1.19.1). Left to finish, the request ends by itself when the pooler
    closes it, within the command timeout that bounds it.
    """

    def _clean_tasks(self) -> None:
        for task in self._cancellations:
            if not task.done():
                _CANCELS_IN_FLIGHT.add(task)
                task.add_done_callback(_CANCELS_IN_FLIGHT.discard)
        self._cancellations.clear()


def pgbouncer_safe(connect_args: dict[str, Any]) -> dict[str, Any]:
    """asyncpg arguments that work behind PgBouncer in transaction mode (and Neon's pooler):
    no statement caches, and each statement prepared under the unnamed name.

    A named statement lives on whichever server connection the pooler lent for that
    transaction: a name another client uses too fails with `prepared statement ... already
    exists`, and a unique name is closed only before the next statement, so the last one of
    every transaction stays on the pooled server connection for good (a leak of about one
    statement per request). The unnamed statement is replaced by the next Parse on the same
    server connection: nothing to close, one round trip less per statement, and no clash.
    """
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": _unnamed_statement,
        "connection_class": PatientCancelConnection,
        **connect_args,
    }


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Take the write lock up front: concurrent read-then-write transactions
        # otherwise fail with "database is locked" instead of waiting their turn.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@lru_cache
def get_engine() -> AsyncEngine:
    settings = get_settings()
    url, connect_args = normalize_database_url(settings.DATABASE_URL)
    backend = make_url(url).get_backend_name()
    # hide_parameters: statement parameters (password hashes, token digests) never reach error messages or logs.
    pool: dict[str, Any] = {"poolclass": NullPool}
    if not settings.DATABASE_USE_NULL_POOL:
        pool = {
            "pool_size": settings.DATABASE_POOL_SIZE,
            "max_overflow": settings.DATABASE_MAX_OVERFLOW,
            "pool_recycle": settings.DATABASE_POOL_RECYCLE,
            "pool_pre_ping": True,
        }
    if backend == "postgresql":
        connect_args = pgbouncer_safe(
            {
                "timeout": settings.DATABASE_CONNECT_TIMEOUT,
                "command_timeout": settings.DATABASE_COMMAND_TIMEOUT,
                **connect_args,
            }
        )
        return create_async_engine(url, connect_args=connect_args, echo=settings.DEBUG, hide_parameters=True, **pool)
    engine = create_async_engine(url, connect_args={"timeout": 30}, echo=settings.DEBUG, hide_parameters=True, **pool)
    if backend == "sqlite":
        _configure_sqlite(engine)
    return engine


class OneConnectionSession(Session):
    """A session that keeps the first connection it opens until it is closed.

    With `NullPool`, a session bound to the engine gives its connection back (closes it)
    at every commit, so a request that commits part of its work early (`commit_now`) would
    connect twice: through PgBouncer, a TCP connect and a SCRAM exchange each time. This
    one opens its connection on first use, as before, and runs each of its transactions on
    it; the connection closes with the session.
    """

    _held: Connection | None = None

    def get_bind(self, *args: Any, **kwargs: Any) -> Engine | Connection:
        if self._held is None or self._held.closed or self._held.invalidated:
            bind = super().get_bind(*args, **kwargs)
            if isinstance(bind, Connection):
                return bind
            self.release_connection()
            self._held = bind.connect()
        return self._held

    def release_connection(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.close()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_connection()


def dialect_name(session: AsyncSession) -> str:
    """The session's database ("postgresql", "sqlite"), known without opening a connection."""
    bind = session.sync_session.bind
    return bind.dialect.name if bind is not None else get_engine().dialect.name


def request_session() -> AsyncSession:
    return AsyncSession(get_engine(), expire_on_commit=False, sync_session_class=OneConnectionSession)


async def get_session() -> AsyncIterator[AsyncSession]:
    """One transaction per request: commit on success, roll back on error.

    A write that must survive a failed request (a reserved login attempt, a revoked
    family) is committed where it is written, with `commit_now`; the request goes on on
    the same connection. A request that released emails to send after its answer hands its
    session (and its connection) over to that sending (`lib.email.outbox.hand_over`), which
    closes it: one connect for the request and its emails.
    """
    session = request_session()
    handed_over = False
    try:
        try:
            yield session
        except BaseException:
            await session.rollback()
            drop_emails(session)
            raise
        else:
            await commit_now(session)
            handed_over = hand_over(session)
    finally:
        if not handed_over:
            await session.close()


async def commit_now(session: AsyncSession) -> None:
    """Commit what this request wrote so far, so that it stays whatever the request answers.

    The request goes on in a new transaction; no service commits for any other reason.
    """
    await session.commit()
    release_emails(session)


def prime_statements() -> None:
    """Configure the mappers and compile a query of every table loaded so far (`lib.app` calls this
    once a function's modules are imported): SQLAlchemy builds its ORM compilation paths on first
    use, which would otherwise fall on a cold start's first request."""
    from sqlalchemy.orm import configure_mappers

    from lib.models import loaded_tables

    configure_mappers()
    dialect = get_engine().dialect
    for model in loaded_tables():
        select(model).compile(dialect=dialect)


# Built at import, driver included, so that a cold start pays for it during init (and, with
# SnapStart, before the snapshot) rather than in its first request. No connection is opened.
get_engine()
