"""What a login costs the database: its statements and round trips. Recording its sign-in
event costs no statement on PostgreSQL (the event rides on the session's INSERT, a
data-modifying CTE); SQLite, without those, runs one INSERT more."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from lib.db import get_engine
from tests.fixtures.app import SettingsEnv
from tests.fixtures.database import is_postgres
from tests.fixtures.roundtrips import count_round_trips
from tests.fixtures.users import PASSWORD, UserFactory

# A login with the right password, SINGLE_SESSION on. On PostgreSQL 4 statements: the user's row
# with the attempt's advisory locks, the attempt's INSERT, the row lock, then one statement that
# gives the attempt back, revokes the other sessions and inserts the session, its refresh token
# and the event (7 before they were merged). With BEGIN, COMMIT twice and the connect, 15 round
# trips to PgBouncer (21 before). SQLite: BEGIN IMMEDIATE twice, no advisory lock, and each
# INSERT, DELETE and UPDATE on its own: 10.
LOGIN_STATEMENTS = 4 if is_postgres() else 10
LOGIN_ROUND_TRIPS = 15


@pytest.fixture
def statements() -> Iterator[list[str]]:
    executed: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        executed.append(statement)

    engine = get_engine().sync_engine
    event.listen(engine, "before_cursor_execute", record)
    yield executed
    event.remove(engine, "before_cursor_execute", record)


async def test_a_login_runs_its_statements_and_no_more(
    client: httpx.AsyncClient, users: UserFactory, statements: list[str]
) -> None:
    user = await users.sign_up()
    statements.clear()
    answer = await client.post("/api/v1/login", data={"username": user.username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert len(statements) == LOGIN_STATEMENTS, "\n".join(statements)


@pytest.mark.postgres_only
@pytest.mark.skipif(not is_postgres(), reason="round trips to PgBouncer")
async def test_login_round_trips_through_the_pooler(users: UserFactory, settings_env: SettingsEnv) -> None:
    """Counted by the benchmark's proxy (scripts/benchmark/roundtrips.py), the connect included."""
    user = await users.sign_up()

    async def log_in(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/api/v1/login", data={"username": user.username, "password": PASSWORD})

    # The process's first login pays for the engine's first connect.
    counts = await count_round_trips(settings_env, [log_in, log_in])
    assert counts[-1]["connections"] == 1
    assert counts[-1]["round_trips"] == LOGIN_ROUND_TRIPS, counts
