"""What the login throttle must not do: lock out a whole office behind one address, keep an
account locked after its owner proved themselves by email, or tell a deactivated account apart."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.fixtures.mail import Mailbox
from tests.fixtures.recovery import NEW_PASSWORD, reset_link, reset_password
from tests.fixtures.users import UserFactory


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/login", data={"username": username, "password": password})


async def test_address_limit_defaults_to_100_whatever_the_account_limit(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.sign_up()
    # A hundred people behind one NAT, each mistyping once: no account reaches its own limit.
    statuses = [(await login(client, f"colleague{n}", "mistyped")).status_code for n in range(100)]
    assert statuses == [401] * 100

    response = await login(client, user.username, user.password)

    assert response.status_code == 429
    assert response.json()["code"] == "too_many_requests"
    assert int(response.headers["retry-after"]) > 0


async def test_a_lower_account_limit_does_not_lower_the_address_limit(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    settings_env(LOGIN_MAX_FAILURES="2")
    user = await users.sign_up()
    for n in range(5):
        assert (await login(client, f"colleague{n}", "mistyped")).status_code == 401

    assert (await login(client, user.username, user.password)).status_code == 200


async def test_a_successful_reset_clears_the_account_count(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox, settings_env: Callable[..., None]
) -> None:
    settings_env(LOGIN_MAX_FAILURES="5", LOGIN_MAX_FAILURES_PER_IP="1000")
    user = await users.sign_up()
    for identifier in (user.email, user.username, user.email, user.username, user.email):
        assert (await login(client, identifier, "a guess")).status_code == 401
    for identifier in (user.email, user.username):
        assert (await login(client, identifier, user.password)).status_code == 429
    token = await reset_link(client, smtp_server, user.email)

    reset = await reset_password(client, token)

    assert reset.status_code == 204
    assert (await login(client, user.email, NEW_PASSWORD)).status_code == 200
    assert (await login(client, user.username, NEW_PASSWORD)).status_code == 200


async def test_a_deactivated_account_with_the_right_password_answers_like_a_wrong_password(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    settings_env(LOGIN_MAX_FAILURES="100")
    user = await users.sign_up()
    assert (await client.delete("/api/v1/user/me", headers=user.headers)).status_code == 204

    for identifier in (user.email, user.username):
        right = await login(client, identifier, user.password)
        wrong = await login(client, identifier, "not the password")
        assert right.status_code == wrong.status_code == 401
        assert right.json() == wrong.json()
        assert right.json()["code"] == "invalid_credentials"
        assert right.headers["www-authenticate"] == wrong.headers["www-authenticate"]
