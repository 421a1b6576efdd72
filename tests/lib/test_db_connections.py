"""What a request costs the database in connections, and what it leaves behind on PgBouncer's
server connections."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event

from lib.db import get_engine, normalize_database_url
from tests.fixtures.app import SettingsEnv
from tests.fixtures.database import is_postgres
from tests.fixtures.users import PASSWORD, UserFactory


@pytest.fixture
def connects() -> Iterator[list[object]]:
    """Every new database connection the engine opens while the test runs."""
    opened: list[object] = []

    def record(dbapi_connection: object, _record: Any) -> None:
        opened.append(dbapi_connection)

    engine = get_engine().sync_engine
    event.listen(engine, "connect", record)
    yield opened
    event.remove(engine, "connect", record)


@pytest.mark.parametrize(("password", "status"), [(PASSWORD, 200), ("not the password", 401)])
async def test_a_login_opens_one_connection(
    client: httpx.AsyncClient, users: UserFactory, connects: list[object], password: str, status: int
) -> None:
    """The attempt is committed before the password check, and the login goes on on the same
    connection: one TCP connect and one authentication exchange with the pooler, not two."""
    user = await users.sign_up()
    connects.clear()
    answer = await client.post("/api/v1/login", data={"username": user.username, "password": password})
    assert answer.status_code == status, answer.text
    assert len(connects) == 1


async def test_a_refresh_opens_one_connection(
    client: httpx.AsyncClient, users: UserFactory, connects: list[object]
) -> None:
    user = await users.sign_up()
    connects.clear()
    answer = await client.post("/api/v1/refresh", json={"refresh_token": user.refresh_token})
    assert answer.status_code == 200, answer.text
    assert len(connects) == 1


async def _prepared_statements_on_server_connections() -> list[int]:
    """How many prepared statements each of PgBouncer's server connections holds.

    As many transactions as PostgreSQL has backends for our role are opened through PgBouncer
    at once and held until each has counted, so that each runs on a server connection of its own.
    """
    url, connect_args = normalize_database_url(os.environ["DATABASE_URL"])
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    direct = await asyncpg.connect(os.environ["TEST_PG_DIRECT_URL"].split("?")[0])
    try:
        backends = await direct.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await direct.close()
    barrier = asyncio.Barrier(backends)

    async def count() -> int:
        connection = await asyncpg.connect(dsn, statement_cache_size=0, **connect_args)
        try:
            async with connection.transaction():
                held: int = await connection.fetchval("SELECT count(*) FROM pg_prepared_statements")
                await barrier.wait()
                return held
        finally:
            await connection.close()

    return await asyncio.wait_for(asyncio.gather(*(count() for _ in range(backends))), timeout=30)


@pytest.mark.postgres_only
@pytest.mark.skipif(
    not is_postgres() or "TEST_PG_DIRECT_URL" not in os.environ, reason="PgBouncer's server connections"
)
async def test_requests_leave_no_prepared_statement_on_the_poolers_server_connections(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    """A statement prepared under a name lives on the server connection that the pooler lent
    for that transaction, after the client has gone: named statements that are not closed
    pile up there, one or more per request, for the server connection's whole life."""
    for _ in range(3):
        user = await users.sign_up()
        refreshed = await client.post("/api/v1/refresh", json={"refresh_token": user.refresh_token})
        assert refreshed.status_code == 200, refreshed.text
        logged_in = await client.post("/api/v1/login", data={"username": user.email, "password": PASSWORD})
        assert logged_in.status_code == 200, logged_in.text
        me = await client.get(
            "/api/v1/user/me", headers={"Authorization": f"Bearer {logged_in.json()['access_token']}"}
        )
        assert me.status_code == 200, me.text
    assert sum(await _prepared_statements_on_server_connections()) == 0


async def _longest_idle_transaction(done: asyncio.Event) -> float:
    """The longest time, in seconds, that any of our backends stays idle inside an open
    transaction until `done` is set, seen by polling pg_stat_activity directly."""
    direct = await asyncpg.connect(os.environ["TEST_PG_DIRECT_URL"].split("?")[0])
    longest = 0.0
    try:
        while not done.is_set():
            seconds = await direct.fetchval(
                "SELECT coalesce(max(extract(epoch FROM now() - state_change)), 0) FROM pg_stat_activity"
                " WHERE datname = current_database() AND state = 'idle in transaction' AND pid <> pg_backend_pid()"
            )
            longest = max(longest, float(seconds))
            await asyncio.sleep(0.002)
    finally:
        await direct.close()
    return longest


@pytest.mark.postgres_only
@pytest.mark.skipif(not is_postgres() or "TEST_PG_DIRECT_URL" not in os.environ, reason="PostgreSQL's activity view")
async def test_no_transaction_stays_open_while_a_login_checks_the_password(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    """A transaction open on a pooled connection holds a server connection of the pooler: it
    must not wait for the password hash (production cost here, about 0.1 s or more)."""
    settings_env(PASSWORD_ARGON2_TIME_COST="3", PASSWORD_ARGON2_MEMORY_COST="65536")
    user = await users.sign_up()
    for password in (PASSWORD, "not the password"):
        done = asyncio.Event()
        watcher = asyncio.create_task(_longest_idle_transaction(done))
        await asyncio.sleep(0.02)
        started = time.perf_counter()
        answer = await client.post("/api/v1/login", data={"username": user.username, "password": password})
        elapsed = time.perf_counter() - started
        done.set()
        longest = await watcher
        assert answer.status_code in (200, 401), answer.text
        assert longest < min(0.05, elapsed / 3), (password, longest, elapsed)
