"""PostgreSQL refusing connections (too_many_connections), directly and through PgBouncer:
every request answers 503 with Retry-After, never 500, and the service recovers once the
database accepts connections again."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator

import asyncpg
import httpx
import pytest

from lib.db import normalize_database_url
from tests.fixtures.database import is_postgres
from tests.fixtures.postgres import superuser_sql
from tests.fixtures.users import PASSWORD

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        not is_postgres() or "TEST_PG_CTL" not in os.environ,
        reason="changes the role of the PostgreSQL server that scripts/test starts",
    ),
    pytest.mark.timeout(120),
]


def _drop_connections_of_auth() -> None:
    superuser_sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'auth'")


async def _connects(url: str) -> bool:
    address, connect_args = normalize_database_url(url)
    dsn = address.replace("postgresql+asyncpg://", "postgresql://")
    try:
        connection = await asyncpg.connect(dsn, timeout=2, statement_cache_size=0, ssl=connect_args.get("ssl"))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return False
    try:
        await connection.execute("SELECT 1")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return False
    finally:
        connection.terminate()
    return True


@pytest.fixture
def refusing_role() -> Iterator[Callable[[], None]]:
    """Call to make PostgreSQL refuse every new connection of the app's role (`too many
    connections for role`, SQLSTATE 53300) and drop the ones it holds, PgBouncer's included.
    Undone after the test, which waits until PgBouncer serves again."""

    def refuse() -> None:
        superuser_sql("ALTER ROLE auth CONNECTION LIMIT 0")
        _drop_connections_of_auth()

    yield refuse
    superuser_sql("ALTER ROLE auth CONNECTION LIMIT -1")
    deadline = time.monotonic() + 60  # PgBouncer waits server_login_retry (15 s) after a failed login
    while not asyncio.run(_connects(os.environ["DATABASE_URL"])):
        assert time.monotonic() < deadline, "PgBouncer did not serve again after the role was allowed back"
        time.sleep(0.5)


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["code"] == "database_unavailable"
    assert body["detail"] == "The database is unavailable; try again shortly"
    assert int(response.headers["retry-after"]) > 0


@pytest.mark.parametrize("route", ["direct", "pgbouncer"])
async def test_a_refused_connection_answers_503_with_retry_after(
    client: httpx.AsyncClient, settings_env: Callable[..., None], refusing_role: Callable[[], None], route: str
) -> None:
    if route == "direct":
        settings_env(DATABASE_URL=os.environ["TEST_PG_DIRECT_URL"])
    settings_env(DATABASE_COMMAND_TIMEOUT="5")
    assert (await client.get("/api/v1/health")).status_code == 200
    refusing_role()

    requests = [
        ("GET", "/api/v1/health", {}),
        ("POST", "/api/v1/login", {"data": {"username": "someone", "password": PASSWORD}}),
        ("POST", "/api/v1/sign-up", {"json": {"email": "r@example.com", "username": "refused", "password": PASSWORD}}),
        ("POST", "/api/v1/refresh", {"json": {"refresh_token": "x" * 40}}),
        ("GET", "/api/v1/health", {}),
    ]
    for method, url, kwargs in requests:
        response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
        if url == "/api/v1/refresh" and response.status_code == 401:
            continue  # refused before it needs the database: a malformed token
        assert_unavailable(response)
    # Many at once, as under load: every one 503, none 500.
    answers = await asyncio.gather(*(client.get("/api/v1/health") for _ in range(20)))
    assert sorted({answer.status_code for answer in answers}) == [503]
