from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from lib.db import get_engine
from lib.models import AuthSession, utcnow
from tests.fixtures.users import PASSWORD, UserFactory, bearer

PATH = "/api/v1/user/me/sessions"


@pytest.fixture(autouse=True)
def _many_sessions(settings_env: Callable[..., None]) -> None:
    settings_env(SINGLE_SESSION="false")


async def _login(client: httpx.AsyncClient, username: str, user_agent: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/login", data={"username": username, "password": PASSWORD}, headers={"User-Agent": user_agent}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _list(client: httpx.AsyncClient, access_token: str) -> list[dict[str, Any]]:
    response = await client.get(PATH, headers=bearer(access_token))
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


async def test_sessions_lists_one_entry_per_login_and_marks_the_current_one(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.sign_up()
    await _login(client, me.username, "Laptop Firefox")
    phone = await _login(client, me.username, "Phone Safari")

    sessions = await _list(client, phone["access_token"])
    assert len(sessions) == 3
    assert all(
        set(entry) == {"id", "created_at", "last_used_at", "expires_at", "user_agent", "current"} for entry in sessions
    )
    current = [entry for entry in sessions if entry["current"]]
    assert len(current) == 1
    assert current[0]["user_agent"] == "Phone Safari"
    assert {entry["user_agent"] for entry in sessions} >= {"Laptop Firefox", "Phone Safari"}
    for entry in sessions:
        assert datetime.fromisoformat(entry["expires_at"]) > datetime.fromisoformat(entry["created_at"])

    signup_view = [entry for entry in await _list(client, me.access_token) if entry["current"]]
    assert len(signup_view) == 1
    assert signup_view[0]["id"] != current[0]["id"]
    assert signup_view[0]["user_agent"].startswith("python-httpx")


async def test_sessions_leaves_out_expired_sessions(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    await _login(client, me.username, "Stale")
    stale_id = next(entry["id"] for entry in await _list(client, me.access_token) if not entry["current"])
    async with get_engine().begin() as connection:
        await connection.execute(
            update(AuthSession)
            .where(col(AuthSession.id) == uuid.UUID(stale_id))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert [entry["current"] for entry in await _list(client, me.access_token)] == [True]
    assert (await client.delete(f"{PATH}/{stale_id}", headers=me.headers)).status_code == 404


async def test_sessions_leaves_out_ended_sessions(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    other = await _login(client, me.username, "Other")
    sessions = await _list(client, me.access_token)
    other_id = next(entry["id"] for entry in sessions if not entry["current"])

    assert (await client.delete(f"{PATH}/{other_id}", headers=me.headers)).status_code == 204
    remaining = await _list(client, me.access_token)
    assert [entry["id"] for entry in remaining] == [next(e["id"] for e in sessions if e["current"])]
    assert (await client.get("/api/v1/user/me", headers=bearer(other["access_token"]))).status_code == 401


async def test_deleting_a_session_ends_its_refresh_and_access_tokens_only(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.sign_up()
    other = await _login(client, me.username, "Other")
    other_id = next(entry["id"] for entry in await _list(client, other["access_token"]) if entry["current"])

    response = await client.delete(f"{PATH}/{other_id}", headers=me.headers)
    assert response.status_code == 204
    assert response.content == b""
    rejected = await client.get("/api/v1/user/me", headers=bearer(other["access_token"]))
    assert rejected.status_code == 401
    assert rejected.json()["code"] == "token_revoked"
    refresh = await client.post("/api/v1/refresh", json={"refresh_token": other["refresh_token"]})
    assert refresh.status_code == 401
    assert (await client.get("/api/v1/user/me", headers=me.headers)).status_code == 200
    assert (await client.post("/api/v1/refresh", json={"refresh_token": me.refresh_token})).status_code == 200


async def test_deleting_the_current_session_logs_the_caller_out(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    current_id = next(entry["id"] for entry in await _list(client, me.access_token) if entry["current"])
    assert (await client.delete(f"{PATH}/{current_id}", headers=me.headers)).status_code == 204
    assert (await client.get("/api/v1/user/me", headers=me.headers)).status_code == 401
    assert (await client.post("/api/v1/refresh", json={"refresh_token": me.refresh_token})).status_code == 401


async def test_deleting_another_users_session_is_404_and_leaves_it_alive(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    victim = await users.sign_up()
    attacker = await users.sign_up()
    victims = await _list(client, victim.access_token)
    attackers = await _list(client, attacker.access_token)
    assert len(victims) == len(attackers) == 1  # each list holds only its caller's sessions
    victim_session = victims[0]["id"]
    assert victim_session != attackers[0]["id"]

    response = await client.delete(f"{PATH}/{victim_session}", headers=attacker.headers)
    assert response.status_code == 404
    unknown = await client.delete(f"{PATH}/{uuid.uuid4()}", headers=attacker.headers)
    assert unknown.status_code == 404
    assert response.json() == unknown.json() == {"detail": "Session not found", "code": "not_found"}
    assert (await client.get("/api/v1/user/me", headers=victim.headers)).status_code == 200


async def test_deleting_an_already_ended_session_is_404(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    await _login(client, me.username, "Other")
    other_id = next(entry["id"] for entry in await _list(client, me.access_token) if not entry["current"])
    assert (await client.delete(f"{PATH}/{other_id}", headers=me.headers)).status_code == 204
    assert (await client.delete(f"{PATH}/{other_id}", headers=me.headers)).status_code == 404


async def test_deleting_a_session_with_a_malformed_id_is_422(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    response = await client.delete(f"{PATH}/not-a-uuid", headers=me.headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "session_id"]


async def test_sessions_require_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get(PATH)).status_code == 401
    assert (await client.delete(f"{PATH}/{uuid.uuid4()}")).status_code == 401


async def _refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/api/v1/refresh", json={"refresh_token": refresh_token})


async def test_a_session_beyond_the_cap_ends_the_least_recently_used(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    settings_env(MAX_SESSIONS_PER_USER="3")
    me = await users.sign_up()
    laptop = await _login(client, me.username, "Laptop")
    phone = await _login(client, me.username, "Phone")
    refreshed = await _refresh(client, me.refresh_token)  # the sign-up's session, used again
    assert refreshed.status_code == 200

    tablet = await _login(client, me.username, "Tablet")  # one too many: the laptop's is the least recently used

    agents = sorted(entry["user_agent"] for entry in await _list(client, tablet["access_token"]))
    assert agents[:2] == ["Phone", "Tablet"]
    assert agents[2].startswith("python-httpx")  # the sign-up's
    assert len(agents) == 3
    assert (await client.get("/api/v1/user/me", headers=bearer(laptop["access_token"]))).status_code == 401
    assert (await _refresh(client, laptop["refresh_token"])).status_code == 401
    for pair in (phone, refreshed.json()):
        assert (await client.get("/api/v1/user/me", headers=bearer(pair["access_token"]))).status_code == 200

    await _login(client, me.username, "Desktop")  # and now the phone's
    assert (await _refresh(client, phone["refresh_token"])).status_code == 401
    assert (await _refresh(client, refreshed.json()["refresh_token"])).status_code == 200


async def test_a_user_holds_twenty_live_sessions_by_default(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    logins = [await _login(client, me.username, f"Device {n}") for n in range(20)]
    sessions = await _list(client, logins[-1]["access_token"])
    assert sorted(entry["user_agent"] for entry in sessions) == sorted(f"Device {n}" for n in range(20))
    assert (await client.get("/api/v1/user/me", headers=me.headers)).status_code == 401
