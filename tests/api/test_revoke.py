"""Token revocation (RFC 7009): a token's session ends; unknown tokens answer the same 200."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.fixtures import tokens as forge
from tests.fixtures.app import SettingsEnv
from tests.fixtures.users import UserFactory, bearer


async def revoke(client: httpx.AsyncClient, token: str, hint: str | None = None) -> httpx.Response:
    form = {"token": token} if hint is None else {"token": token, "token_type_hint": hint}
    return await client.post("/api/v1/revoke", data=form)


async def session_is_alive(client: httpx.AsyncClient, access_token: str) -> bool:
    return (await client.get("/api/v1/user/me", headers=bearer(access_token))).status_code == 200


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token", "something_else"])
async def test_revoking_a_refresh_token_ends_its_whole_session(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv, hint: str | None
) -> None:
    settings_env(SINGLE_SESSION="false")
    user = await users.sign_up()
    other = (await users.login(user.email)).json()
    response = await revoke(client, user.refresh_token, hint)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"
    refreshed = await client.post("/api/v1/refresh", json={"refresh_token": user.refresh_token})
    assert refreshed.status_code == 401
    assert not await session_is_alive(client, user.access_token)
    # another session of the same user is untouched
    assert await session_is_alive(client, other["access_token"])


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"])
async def test_revoking_an_access_token_ends_its_session(
    client: httpx.AsyncClient, users: UserFactory, hint: str | None
) -> None:
    user = await users.sign_up()
    assert (await revoke(client, user.access_token, hint)).status_code == 200
    assert not await session_is_alive(client, user.access_token)
    assert (await client.post("/api/v1/refresh", json={"refresh_token": user.refresh_token})).status_code == 401


async def test_revoking_twice_answers_200_both_times(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    first, second = await revoke(client, user.refresh_token), await revoke(client, user.refresh_token)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.content == second.content == b""


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 9000])
async def test_unknown_or_invalid_tokens_answer_200_and_revoke_nothing(
    client: httpx.AsyncClient, users: UserFactory, token: str
) -> None:
    user = await users.sign_up()
    assert (await revoke(client, token)).status_code == 200
    assert await session_is_alive(client, user.access_token)


async def test_a_token_signed_by_another_key_revokes_nothing(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    claims = forge.unverified_claims(user.refresh_token)
    forged = forge.sign({**claims, "exp": int(time.time()) + 60}, key=forge.other_private_pem(), typ="JWT")
    assert (await revoke(client, forged)).status_code == 200
    assert await session_is_alive(client, user.access_token)


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"data": {}},
        {"data": {"token": ""}},
        {"data": {"token_type_hint": "refresh_token"}},
        {"json": {"token": "x"}},
        {"content": "token=a&token=b", "headers": {"content-type": "application/x-www-form-urlencoded"}},
    ],
)
async def test_malformed_request_is_400_invalid_request(
    client: httpx.AsyncClient, request_kwargs: dict[str, object]
) -> None:
    response = await client.post("/api/v1/revoke", **request_kwargs)  # type: ignore[arg-type]
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["code"], body["error"]) == ("invalid_request", "invalid_request")
    assert body["detail"]
    assert body["error_description"]
