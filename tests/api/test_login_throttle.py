from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from lib.db import get_engine
from lib.models import Attempt
from tests.fixtures.app import SettingsEnv
from tests.fixtures.servers import uvicorn_servers
from tests.fixtures.users import PASSWORD, UserFactory


async def failure_rows() -> list[str]:
    """The keys counted by login (sign-up counts its own, under `sign-up:ip:`)."""
    async with get_engine().connect() as connection:
        keys = (await connection.execute(select(Attempt.key))).scalars()
        return [key for key in keys if not key.startswith("sign-up:")]


async def login(client: httpx.AsyncClient, username: str, password: str, **headers: str) -> httpx.Response:
    return await client.post("/api/v1/login", data={"username": username, "password": password}, headers=headers)


async def test_failures_throttle_the_account_even_with_the_right_password(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(LOGIN_MAX_FAILURES="3", LOGIN_FAILURE_WINDOW_SECONDS="600")
    user = await users.sign_up()
    for _ in range(3):
        assert (await login(client, user.username, "wrong password")).status_code == 401
    response = await login(client, user.username, user.password)
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_requests"
    assert 590 <= int(response.headers["retry-after"]) <= 600
    # Other spellings of the identifier count as the same key.
    assert (await login(client, f"  {user.username.upper()} ", user.password)).status_code == 429


async def test_the_email_and_the_username_of_an_account_are_one_count(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(LOGIN_MAX_FAILURES="3", LOGIN_FAILURE_WINDOW_SECONDS="600")
    user = await users.sign_up()
    for identifier in (user.email, user.username, f" {user.email.upper()}"):
        assert (await login(client, identifier, "wrong password")).status_code == 401
    for identifier in (user.username, user.email):
        response = await login(client, identifier, user.password)
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) > 0
    # One row per failure under the account, whichever identifier was typed.
    accounts = [key for key in await failure_rows() if key.startswith("account:")]
    assert len(accounts) == 3
    assert len(set(accounts)) == 1


async def test_a_wrong_current_password_counts_under_the_account_whatever_logs_in(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(LOGIN_MAX_FAILURES="3", LOGIN_FAILURE_WINDOW_SECONDS="600", SINGLE_SESSION="false")
    user = await users.sign_up()
    for _ in range(2):
        changed = await client.post(
            "/api/v1/user/me/password",
            headers=user.headers,
            json={"current_password": "not my password", "new_password": "a brand new passphrase"},
        )
        assert changed.status_code == 400
    assert (await login(client, user.username, "wrong password")).status_code == 401
    assert (await login(client, user.username, user.password)).status_code == 429


async def test_success_after_the_window_passes(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(LOGIN_MAX_FAILURES="2", LOGIN_FAILURE_WINDOW_SECONDS="2")
    user = await users.sign_up()
    for _ in range(2):
        assert (await login(client, user.email, "wrong password")).status_code == 401
    throttled = await login(client, user.email, user.password)
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["retry-after"]) <= 2
    await asyncio.sleep(int(throttled.headers["retry-after"]) + 0.2)
    assert (await login(client, user.email, user.password)).status_code == 200


async def test_success_resets_the_account_count(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(LOGIN_MAX_FAILURES="3", LOGIN_MAX_FAILURES_PER_IP="100")
    user = await users.sign_up()
    for _ in range(2):
        assert (await login(client, user.username, "wrong password")).status_code == 401
    assert (await login(client, user.username, user.password)).status_code == 200
    for _ in range(2):
        assert (await login(client, user.username, "wrong password")).status_code == 401
    assert (await login(client, user.username, user.password)).status_code == 200


async def test_unknown_account_is_throttled_like_a_known_one(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(LOGIN_MAX_FAILURES="3", LOGIN_MAX_FAILURES_PER_IP="100")
    user = await users.sign_up()
    answers: dict[str, list[tuple[int, str]]] = {}
    for name in (user.username, "nobody-here"):
        answers[name] = []
        for _ in range(4):
            response = await login(client, name, "wrong password")
            answers[name].append((response.status_code, response.json()["code"]))
    assert answers[user.username] == answers["nobody-here"]
    assert [status for status, _ in answers["nobody-here"]] == [401, 401, 401, 429]


async def test_failures_store_no_typed_identifier(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    await login(client, user.email, "wrong password")
    keys = await failure_rows()
    assert len(keys) == 2  # the account and the client address
    assert not any(user.email in key or user.username in key for key in keys)


async def test_the_client_address_is_throttled_across_accounts(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(LOGIN_MAX_FAILURES="3", LOGIN_MAX_FAILURES_PER_IP="3")
    victim = await users.sign_up()
    for n in range(3):
        assert (await login(client, f"someone{n}", "wrong password")).status_code == 401
    response = await login(client, victim.username, victim.password)
    assert response.status_code == 429


async def test_trusted_header_names_the_client_address(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(LOGIN_MAX_FAILURES="100", LOGIN_MAX_FAILURES_PER_IP="3", TRUSTED_IP_HEADER="X-Forwarded-For")
    user = await users.sign_up()
    # The right-most entry is the one the trusted proxy saw; what the client wrote before it is ignored.
    for n in range(3):
        forwarded = f"10.9.9.{n}, 203.0.113.7"
        assert (await login(client, f"someone{n}", "wrong", **{"X-Forwarded-For": forwarded})).status_code == 401
    blocked = await login(client, user.username, PASSWORD, **{"X-Forwarded-For": "1.2.3.4, 203.0.113.7"})
    assert blocked.status_code == 429
    other = await login(client, user.username, PASSWORD, **{"X-Forwarded-For": "203.0.113.7, 198.51.100.2"})
    assert other.status_code == 200


async def test_ipv6_clients_count_by_their_64_prefix(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(LOGIN_MAX_FAILURES="100", LOGIN_MAX_FAILURES_PER_IP="2", TRUSTED_IP_HEADER="x-real-ip")
    user = await users.sign_up()
    for n in range(2):
        assert (await login(client, "someone", "wrong", **{"X-Real-IP": f"2001:db8:1:2::{n + 1}"})).status_code == 401
    assert (await login(client, user.username, PASSWORD, **{"X-Real-IP": "2001:db8:1:2::ff"})).status_code == 429
    assert (await login(client, user.username, PASSWORD, **{"X-Real-IP": "2001:db8:1:3::1"})).status_code == 200


async def test_forwarding_header_is_ignored_unless_configured(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(LOGIN_MAX_FAILURES="100", LOGIN_MAX_FAILURES_PER_IP="2")
    user = await users.sign_up()
    for n in range(2):
        spoofed = {"X-Forwarded-For": f"198.51.100.{n}", "X-Real-IP": f"198.51.100.{n}"}
        assert (await login(client, "someone", "wrong", **spoofed)).status_code == 401
    response = await login(client, user.username, PASSWORD, **{"X-Real-IP": "192.0.2.50"})
    assert response.status_code == 429


@pytest.mark.parametrize("forwarded", ["not-an-address", "", "1.2.3.4, garbage"])
async def test_invalid_forwarded_value_falls_back_to_the_peer(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv, forwarded: str
) -> None:
    settings_env(TRUSTED_IP_HEADER="x-forwarded-for")
    await login(client, "someone", "wrong", **{"X-Forwarded-For": forwarded})
    keys = await failure_rows()
    assert [key for key in keys if key.startswith("ip:")] == ["ip:127.0.0.1"]  # httpx's ASGI peer


async def test_concurrent_failures_are_all_counted(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(LOGIN_MAX_FAILURES="1000")
    user = await users.sign_up()
    responses = await asyncio.gather(*(login(client, user.username, "wrong") for _ in range(10)))
    assert {response.status_code for response in responses} == {401}
    async with get_engine().connect() as connection:
        count = (
            await connection.execute(
                select(func.count()).where(col(Attempt.key).startswith("account:") | col(Attempt.key).startswith("ip:"))
            )
        ).scalar_one()
    assert count == 20  # each of the 10 failures under the account and the address


async def test_two_app_processes_share_the_count(users: UserFactory) -> None:
    user = await users.sign_up()
    with uvicorn_servers(2, LOGIN_MAX_FAILURES="4", LOGIN_MAX_FAILURES_PER_IP="100") as (first, second):
        async with httpx.AsyncClient() as http:
            for n in range(4):
                url = (first, second)[n % 2]
                response = await http.post(f"{url}/api/v1/login", data={"username": user.username, "password": "no"})
                assert response.status_code == 401, response.text
            for url in (first, second):
                response = await http.post(
                    f"{url}/api/v1/login", data={"username": user.username, "password": user.password}
                )
                assert response.status_code == 429, response.text
                assert int(response.headers["retry-after"]) > 0
