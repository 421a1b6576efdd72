from __future__ import annotations

import httpx

from tests.fixtures.app import SettingsEnv
from tests.fixtures.users import UserFactory, bearer


async def test_logout_revokes_refresh_and_earlier_access_tokens(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    response = await client.post("/api/v1/logout", headers=user.headers)
    assert response.status_code == 204
    assert response.content == b""
    # The access token first: a refresh's own reuse detection would revoke the session and
    # hide a logout that left it live.
    me = await client.get("/api/v1/user/me", headers=user.headers)
    assert me.status_code == 401
    assert me.json()["code"] == "token_revoked"
    refused = await client.post("/api/v1/refresh", json={"refresh_token": user.refresh_token})
    assert refused.status_code == 401
    assert refused.json()["code"] == "token_revoked"


async def test_logout_ends_every_session_of_the_user(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(SINGLE_SESSION="false")
    user = await users.sign_up()
    other = (await users.login(user.email)).json()
    assert (await client.post("/api/v1/logout", headers=user.headers)).status_code == 204
    assert (await client.get("/api/v1/user/me", headers=bearer(other["access_token"]))).status_code == 401
    assert (await client.post("/api/v1/refresh", json={"refresh_token": other["refresh_token"]})).status_code == 401


async def test_logout_does_not_touch_other_users(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.sign_up()
    bob = await users.sign_up()
    assert (await client.post("/api/v1/logout", headers=alice.headers)).status_code == 204
    assert (await client.get("/api/v1/user/me", headers=bob.headers)).status_code == 200


async def test_logout_without_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/logout")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_login_after_logout_works(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    await client.post("/api/v1/logout", headers=user.headers)
    fresh = await users.login(user.username)
    assert fresh.status_code == 200
    assert (await client.get("/api/v1/user/me", headers=bearer(fresh.json()["access_token"]))).status_code == 200
