from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.fixtures.app import SettingsEnv
from tests.fixtures.mfa import LOGIN_MFA, enrol, mfa_token, totp_code
from tests.fixtures.roles import user_row
from tests.fixtures.tokens import unverified_claims
from tests.fixtures.users import PASSWORD, UserFactory, bearer

NEW_PASSWORD = "a brand new passphrase"
PATH = "/api/v1/user/me/password"


async def test_change_password_returns_fresh_pair_and_ends_every_other_session(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    settings_env(SINGLE_SESSION="false")
    me = await users.sign_up()
    other = (await users.login(me.username)).json()

    response = await client.post(
        PATH, headers=me.headers, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 200
    pair = response.json()
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert response.headers["cache-control"] == "no-store"

    for access in (me.access_token, other["access_token"]):
        assert (await client.get("/api/v1/user/me", headers=bearer(access))).status_code == 401
    for refresh in (me.refresh_token, other["refresh_token"]):
        assert (await client.post("/api/v1/refresh", json={"refresh_token": refresh})).status_code == 401
    assert (await client.get("/api/v1/user/me", headers=bearer(pair["access_token"]))).status_code == 200
    sessions = await client.get("/api/v1/user/me/sessions", headers=bearer(pair["access_token"]))
    assert [entry["current"] for entry in sessions.json()] == [True]
    assert (await client.post("/api/v1/refresh", json={"refresh_token": pair["refresh_token"]})).status_code == 200


async def test_change_password_replaces_the_login_password_with_an_argon2id_hash(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.sign_up()
    before = await user_row(me.email)
    response = await client.post(
        PATH, headers=me.headers, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 200
    after = await user_row(me.email)
    assert before is not None
    assert after is not None
    assert after["hashed_password"].startswith("$argon2id$")
    assert after["hashed_password"] != before["hashed_password"]
    assert (await users.login(me.username, PASSWORD)).status_code == 401
    assert (await users.login(me.username, NEW_PASSWORD)).status_code == 200


async def test_change_password_with_wrong_current_password_changes_nothing(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.sign_up()
    response = await client.post(
        PATH, headers=me.headers, json={"current_password": "not my password", "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "The current password is incorrect", "code": "invalid_password"}
    assert (await client.get("/api/v1/user/me", headers=me.headers)).status_code == 200
    assert (await users.login(me.username, PASSWORD)).status_code == 200


@pytest.mark.parametrize(
    ("new_password", "error_type"),
    [
        ("short", "password_too_short"),
        ("x" * 129, "password_too_long"),
        ("{username}", "password_contains_username"),
        ("{email}", "password_contains_email"),
    ],
)
async def test_change_password_applies_the_password_policy(
    client: httpx.AsyncClient, users: UserFactory, new_password: str, error_type: str
) -> None:
    me = await users.sign_up(username="policy.tester", email="ptester@example.com")
    new_password = new_password.format(username=me.username.upper(), email=me.email.upper())
    response = await client.post(
        PATH, headers=me.headers, json={"current_password": PASSWORD, "new_password": new_password}
    )
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(error["loc"] == ["body", "new_password"] and error["type"] == error_type for error in errors), errors
    assert (await client.get("/api/v1/user/me", headers=me.headers)).status_code == 200
    assert (await users.login(me.username, PASSWORD)).status_code == 200


async def test_change_password_requires_both_fields(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    response = await client.post(PATH, headers=me.headers, json={"new_password": NEW_PASSWORD})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "current_password"]


async def test_change_password_requires_a_token(client: httpx.AsyncClient) -> None:
    response = await client.post(PATH, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 401


async def test_wrong_current_passwords_are_throttled_like_logins(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(LOGIN_MAX_FAILURES="3")
    me = await users.sign_up()
    for _ in range(3):
        wrong = await client.post(
            "/api/v1/user/me/password",
            headers=me.headers,
            json={"current_password": "not my password", "new_password": "a brand new passphrase"},
        )
        assert wrong.status_code == 400
    throttled = await client.post(
        "/api/v1/user/me/password",
        headers=me.headers,
        json={"current_password": me.password, "new_password": "a brand new passphrase"},
    )
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert (await users.login(me.email)).status_code == 429


async def test_a_password_change_keeps_the_second_factor_of_the_session_it_came_from(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    """The new pair replaces a session that passed both factors: its `amr` says so still, as
    its refreshes would have (a resource server that asks for "otp" keeps the user in)."""
    member = await users.sign_up()
    enrolled = await enrol(client, member)
    signed_in = await client.post(
        LOGIN_MFA, json={"mfa_token": await mfa_token(client, member.username), "code": totp_code(enrolled.secret, 1)}
    )
    assert signed_in.status_code == 200, signed_in.text
    changed = await client.post(
        "/api/v1/user/me/password",
        headers=bearer(signed_in.json()["access_token"]),
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase 42"},
    )
    assert changed.status_code == 200, changed.text
    for token in (changed.json()["access_token"], changed.json()["refresh_token"]):
        assert unverified_claims(token)["amr"] == ["pwd", "otp"]
    # A session that passed the password only stays a password-only one.
    plain = await users.sign_up()
    changed = await client.post(
        "/api/v1/user/me/password",
        headers=plain.headers,
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase 42"},
    )
    assert changed.status_code == 200, changed.text
    assert unverified_claims(changed.json()["access_token"])["amr"] == ["pwd"]
