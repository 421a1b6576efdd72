"""PostgreSQL stopped while requests run: 503 with Retry-After (never 500), then recovery,
and no half-written account."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time

import httpx
import pytest
from sqlalchemy import text

from lib.db import get_engine
from tests.fixtures.app import SettingsEnv
from tests.fixtures.database import is_postgres
from tests.fixtures.postgres import postgres_running, start_postgres, stop_postgres
from tests.fixtures.users import PASSWORD

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        not is_postgres() or "TEST_PG_CTL" not in os.environ,
        reason="stops the PostgreSQL server that scripts/test starts",
    ),
    pytest.mark.timeout(180),
]

_names = itertools.count(1)


async def traffic(client: httpx.AsyncClient, stop: asyncio.Event, responses: list[httpx.Response]) -> None:
    """Sign-ups, logins and health checks, back to back, until `stop` is set."""
    while not stop.is_set():
        n = next(_names)
        requests = [
            client.post(
                "/api/v1/sign-up",
                json={"email": f"fault{n}@example.com", "username": f"fault{n}", "password": PASSWORD},
            ),
            client.post("/api/v1/login", data={"username": f"fault{n - 1}", "password": PASSWORD}),
            client.get("/api/v1/health"),
        ]
        responses.extend(await asyncio.gather(*requests))


async def wait_until_healthy(client: httpx.AsyncClient, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (await client.get("/api/v1/health")).status_code != 200:
        assert time.monotonic() < deadline, "the service did not recover after PostgreSQL restarted"
        await asyncio.sleep(0.25)


async def wait_for_responses(responses: list[httpx.Response], count: int, message: str) -> None:
    """Wait until `count` more responses arrived (two whole batches), failing after 30 s."""
    target, deadline = len(responses) + count, time.monotonic() + 30
    while len(responses) < target:
        assert time.monotonic() < deadline, message
        await asyncio.sleep(0.1)


async def half_written_accounts() -> dict[str, int]:
    queries = {
        "users without a session": "SELECT count(*) FROM users u WHERE NOT EXISTS "
        "(SELECT 1 FROM sessions s WHERE s.user_id = u.id)",
        "sessions without a user": "SELECT count(*) FROM sessions s WHERE NOT EXISTS "
        "(SELECT 1 FROM users u WHERE u.id = s.user_id)",
        "sessions without a refresh token": "SELECT count(*) FROM sessions s WHERE NOT EXISTS "
        "(SELECT 1 FROM refresh_tokens t WHERE t.session_id = s.id)",
    }
    async with get_engine().connect() as connection:
        return {name: (await connection.execute(text(query))).scalar_one() for name, query in queries.items()}


async def test_database_outage_answers_503_and_recovers(client: httpx.AsyncClient, settings_env: SettingsEnv) -> None:
    # Behind PgBouncer a query waits in its queue while the server is down; the command timeout bounds that.
    settings_env(DATABASE_COMMAND_TIMEOUT="2", LOGIN_MAX_FAILURES="1000")
    responses: list[httpx.Response] = []
    stop = asyncio.Event()
    worker = asyncio.create_task(traffic(client, stop, responses))
    try:
        await asyncio.sleep(1.0)
        try:
            await asyncio.to_thread(stop_postgres)
            await wait_for_responses(responses, 6, "requests hung while PostgreSQL was down")
        finally:
            if not postgres_running():
                await asyncio.to_thread(start_postgres)
        await wait_until_healthy(client, 60)
        recovered_at = len(responses)
        await wait_for_responses(responses, 6, "requests hung after PostgreSQL restarted")
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)

    statuses = [response.status_code for response in responses]
    assert 500 not in statuses
    assert set(statuses) <= {200, 201, 401, 503}, sorted(set(statuses))
    unavailable = [response for response in responses if response.status_code == 503]
    assert unavailable, "no request saw the outage"
    for response in unavailable:
        body = response.json()
        assert body["detail"] == "The database is unavailable; try again shortly"
        assert body["code"] == "database_unavailable"
        assert set(body) - {"detail", "code"} <= {"error", "error_description"}
        assert body.get("error", "temporarily_unavailable") == "temporarily_unavailable"
        assert int(response.headers["retry-after"]) > 0
    assert 201 in statuses[recovered_at:], "sign-up did not work again after the restart"

    # Every sign-up that answered 201 was committed whole; none left a user without its session.
    assert await half_written_accounts() == {
        "users without a session": 0,
        "sessions without a user": 0,
        "sessions without a refresh token": 0,
    }
    # Every 201 was committed: the answer never promises an account the database does not hold.
    created = {json.loads(response.request.content)["email"] for response in responses if response.status_code == 201}
    async with get_engine().connect() as connection:
        stored = set((await connection.execute(text("SELECT email FROM users"))).scalars())
    assert created <= stored
    fresh = await client.post(
        "/api/v1/sign-up", json={"email": "after@example.com", "username": "after", "password": PASSWORD}
    )
    assert fresh.status_code == 201
    assert (await client.post("/api/v1/login", data={"username": "after", "password": PASSWORD})).status_code == 200
