"""The refresh grace window: a retry or a second tab re-sending the token just rotated keeps the
session; anything older, or later, is reuse and ends the session (REFRESH_REUSE_GRACE_SECONDS)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from tests.fixtures.tokens import unverified_claims
from tests.fixtures.users import UserFactory, bearer


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/refresh", json={"refresh_token": token})


async def rotated(client: httpx.AsyncClient, token: str) -> dict[str, str]:
    response = await refresh(client, token)
    assert response.status_code == 200, response.text
    pair: dict[str, str] = response.json()
    return pair


async def me_status(client: httpx.AsyncClient, pair: dict[str, str]) -> int:
    return (await client.get("/api/v1/user/me", headers=bearer(pair["access_token"]))).status_code


async def assert_family_revoked(client: httpx.AsyncClient, *pairs: dict[str, str]) -> None:
    for pair in pairs:
        assert await me_status(client, pair) == 401
        assert (await refresh(client, pair["refresh_token"])).status_code == 401


async def test_previous_token_again_within_the_window_gets_a_pair_in_the_same_session(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.sign_up()
    first = await rotated(client, user.refresh_token)

    second = await rotated(client, user.refresh_token)  # the retry, or the second tab (default window)

    sid = unverified_claims(user.access_token)["sid"]
    assert unverified_claims(second["access_token"])["sid"] == sid
    sessions = await client.get("/api/v1/user/me/sessions", headers=bearer(second["access_token"]))
    assert sessions.status_code == 200
    assert [(item["id"], item["current"]) for item in sessions.json()] == [(sid, True)]
    # Nothing was revoked: both tabs go on.
    for pair in (first, second):
        assert await me_status(client, pair) == 200
    for pair in (first, second):
        assert await me_status(client, await rotated(client, pair["refresh_token"])) == 200


async def test_a_retry_within_the_window_gets_the_very_refresh_token_the_first_presentation_got(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    """However often a client retries, its session holds one live refresh token."""
    user = await users.sign_up()
    first = await rotated(client, user.refresh_token)

    retries = [await rotated(client, user.refresh_token) for _ in range(3)]

    assert {pair["refresh_token"] for pair in retries} == {first["refresh_token"]}
    assert len({pair["access_token"] for pair in (first, *retries)}) == 4  # each answer a working access token
    for pair in retries:
        assert await me_status(client, pair) == 200
    # Once that token is used, the one before it is two rotations back: reuse.
    await rotated(client, first["refresh_token"])
    assert (await refresh(client, user.refresh_token)).json()["code"] == "token_reused"


async def test_token_two_rotations_back_is_reuse_even_within_the_window(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.sign_up()
    first = await rotated(client, user.refresh_token)
    second = await rotated(client, first["refresh_token"])

    replayed = await refresh(client, user.refresh_token)

    assert replayed.status_code == 401
    assert replayed.json()["code"] == "token_reused"
    await assert_family_revoked(client, first, second)


@pytest.mark.parametrize(
    ("grace", "wait"), [pytest.param("1", 1.3, id="after-the-window"), pytest.param("0", 0, id="no-window")]
)
async def test_previous_token_is_reuse_after_the_window_or_without_one(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None], grace: str, wait: float
) -> None:
    settings_env(REFRESH_REUSE_GRACE_SECONDS=grace)
    user = await users.sign_up()
    first = await rotated(client, user.refresh_token)
    await asyncio.sleep(wait)

    replayed = await refresh(client, user.refresh_token)

    assert replayed.status_code == 401
    assert replayed.json()["code"] == "token_reused"
    await assert_family_revoked(client, first)


async def test_the_window_does_not_bring_back_a_session_that_was_logged_out(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.sign_up()
    first = await rotated(client, user.refresh_token)
    assert (await client.post("/api/v1/logout", headers=bearer(first["access_token"]))).status_code == 204

    replayed = await refresh(client, user.refresh_token)

    assert replayed.status_code == 401
    assert await me_status(client, first) == 401
