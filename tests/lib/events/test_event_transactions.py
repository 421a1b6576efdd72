"""Events are written in the transaction of the change they record: a request that is run again
after losing a race leaves one event, a request that rolls back leaves none, and under parallel
requests the events match the answers."""

from __future__ import annotations

import collections
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlmodel import col

import lib.sessions.login
from lib.db import get_engine
from lib.models import AuthSession
from lib.sessions import start
from tests.fixtures.app import SettingsEnv
from tests.fixtures.database import is_postgres
from tests.fixtures.events import all_events, sid
from tests.fixtures.races import GENEROUS_LIMITS, Race, send, server_errors
from tests.fixtures.users import PASSWORD, UserFactory, bearer


class Deadlock(Exception):
    sqlstate = "40P01"


def fail_once_after_start_session(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> list[int]:
    """The login's session (and its event) are written, then the request fails, once."""
    calls: list[int] = []

    async def start_then_fail(*args: Any, **kwargs: Any) -> Any:
        pair = await start.start_login_session(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            raise error
        return pair

    monkeypatch.setattr(lib.sessions.login, "start_login_session", start_then_fail)
    return calls


async def session_ids() -> set[uuid.UUID]:
    async with get_engine().connect() as connection:
        return set((await connection.execute(select(col(AuthSession.id)))).scalars())


async def test_a_login_run_again_after_a_deadlock_leaves_one_event(
    client: httpx.AsyncClient, users: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = await users.sign_up()
    calls = fail_once_after_start_session(monkeypatch, sa_exc.DBAPIError("INSERT ...", None, Deadlock()))
    answer = await users.login(member.username)
    assert answer.status_code == 200, answer.text
    assert len(calls) == 2  # run again once
    logins = [event for event in await all_events() if event["type"] == "login_succeeded"]
    assert [event["session_id"] for event in logins] == [sid(answer.json()["access_token"])]
    assert logins[0]["session_id"] in await session_ids()


async def test_a_login_that_rolls_back_leaves_no_event(
    client: httpx.AsyncClient, users: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = await users.sign_up()
    sessions_before = await session_ids()
    fail_once_after_start_session(monkeypatch, ConnectionResetError("the database went away"))
    answer = await users.login(member.username)
    assert answer.status_code == 503, answer.text
    assert [event["type"] for event in await all_events()] == ["sign_up"]
    assert await session_ids() == sessions_before


@pytest.mark.postgres_only
@pytest.mark.skipif(not is_postgres(), reason="SQLite runs writers one at a time")
async def test_parallel_logins_and_a_password_change_leave_events_that_match_the_answers(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(**GENEROUS_LIMITS, SINGLE_SESSION="false")
    member = await users.sign_up()

    async def change() -> Any:
        return await send(
            client,
            "POST",
            "/api/v1/user/me/password",
            headers=bearer(member.access_token),
            json={"current_password": PASSWORD, "new_password": "the next password"},
        )

    race = await Race().run(client, identifiers=[member.username, member.email] * 3, password=PASSWORD, action=change)
    assert not server_errors(race.logins)
    assert race.action is not None
    assert race.action.status == 200, race.action
    events = await all_events()
    counted = collections.Counter(event["type"] for event in events)
    statuses = collections.Counter(answer.status for answer in race.logins)
    assert counted["login_succeeded"] == statuses[200], (counted, statuses)
    assert counted["login_failed"] == statuses[401], (counted, statuses)
    assert counted["password_changed"] == 1
    succeeded = {event["session_id"] for event in events if event["type"] == "login_succeeded"}
    assert succeeded == {sid(pair["access_token"]) for pair in race.pairs}
    assert len(events) == len({event["id"] for event in events})
