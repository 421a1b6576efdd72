from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select

from lib.db import get_engine
from lib.models import AuthSession, RefreshToken
from tests.fixtures.tokens import issued_before_client_ids, unverified_claims
from tests.fixtures.users import UserFactory, bearer


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/refresh", json={"refresh_token": token})


async def test_refresh_rotates_the_pair(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    response = await refresh(client, user.refresh_token)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    pair = response.json()
    assert pair["refresh_token"] != user.refresh_token
    assert (await client.get("/api/v1/user/me", headers=bearer(pair["access_token"]))).status_code == 200
    assert (await refresh(client, pair["refresh_token"])).status_code == 200


async def test_consumed_refresh_token_is_refused(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    settings_env(REFRESH_REUSE_GRACE_SECONDS="0")
    user = await users.sign_up()
    assert (await refresh(client, user.refresh_token)).status_code == 200
    again = await refresh(client, user.refresh_token)
    assert again.status_code == 401
    assert again.json()["code"] == "token_reused"
    assert again.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


async def test_refresh_reuse_revokes_family(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    settings_env(REFRESH_REUSE_GRACE_SECONDS="0")
    user = await users.sign_up()
    newest = (await refresh(client, user.refresh_token)).json()
    assert (await refresh(client, user.refresh_token)).status_code == 401  # the attacker replays
    assert (await refresh(client, newest["refresh_token"])).status_code == 401
    assert (await client.get("/api/v1/user/me", headers=bearer(newest["access_token"]))).status_code == 401


async def test_concurrent_refreshes_of_one_token_let_exactly_one_through_when_strict(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    settings_env(REFRESH_REUSE_GRACE_SECONDS="0")
    user = await users.sign_up()
    responses = await asyncio.gather(*(refresh(client, user.refresh_token) for _ in range(20)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [401] * 19, [r.text for r in responses if r.status_code not in (200, 401)]


async def test_access_token_is_not_a_refresh_token(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    response = await refresh(client, user.access_token)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_refresh_with_garbage_is_401_and_empty_is_422(client: httpx.AsyncClient) -> None:
    garbage = await refresh(client, "not-a-token")
    assert (garbage.status_code, garbage.json()["code"]) == (401, "invalid_token")
    assert (await client.post("/api/v1/refresh", json={"refresh_token": ""})).status_code == 422
    assert (await client.post("/api/v1/refresh", json={})).status_code == 422


async def test_refresh_of_deactivated_user_is_refused(client: httpx.AsyncClient, users: UserFactory) -> None:
    from sqlalchemy import update

    from lib.db import get_engine
    from lib.models import User

    user = await users.sign_up()
    async with get_engine().begin() as connection:
        await connection.execute(update(User).where(User.email == user.email).values(is_active=False))
    response = await refresh(client, user.refresh_token)
    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"


async def _row(table: Any, row_id: uuid.UUID) -> dict[str, Any]:
    async with get_engine().connect() as connection:
        row = (await connection.execute(select(table).where(table.c.id == row_id))).one()
    return dict(row._mapping)


async def test_a_rotation_changes_only_what_it_must(client: httpx.AsyncClient, users: UserFactory) -> None:
    """The presented token gets its `used_at`, its session a new `last_used_at` and `expires_at`;
    nothing else of either row moves (the rotation's statements are built once, with named
    parameters, and a parameter named like a column would set that column)."""
    user = await users.sign_up()
    claims = unverified_claims(user.refresh_token)
    token_id, session_id = uuid.UUID(claims["jti"]), uuid.UUID(claims["sid"])
    tokens, sessions = RefreshToken.__table__, AuthSession.__table__  # type: ignore[attr-defined]
    token_before, session_before = await _row(tokens, token_id), await _row(sessions, session_id)
    await asyncio.sleep(1.1)  # a new expiry one second later at least, so that a mix-up shows
    response = await refresh(client, user.refresh_token)
    assert response.status_code == 200, response.text
    token_after, session_after = await _row(tokens, token_id), await _row(sessions, session_id)
    assert token_before["used_at"] is None
    assert token_after["used_at"] is not None
    assert {k: v for k, v in token_after.items() if k != "used_at"} == {
        k: v for k, v in token_before.items() if k != "used_at"
    }
    assert session_after["expires_at"] > session_before["expires_at"]
    moved = {"last_used_at", "expires_at"}
    assert {k: v for k, v in session_after.items() if k not in moved} == {
        k: v for k, v in session_before.items() if k not in moved
    }
    new_claims = unverified_claims(response.json()["refresh_token"])
    assert session_after["expires_at"].timestamp() == new_claims["exp"]


async def test_a_refresh_token_issued_before_the_audience_change_still_refreshes(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    """Issued with the resource servers' `aud` and no `client_id` (before the change): accepted
    until it expires, and its successor has the issuer as `aud` and the default client."""
    user = await users.sign_up()
    old = issued_before_client_ids(user.refresh_token)
    response = await client.post("/api/v1/refresh", json={"refresh_token": old})
    assert response.status_code == 200, response.text
    successor = unverified_claims(response.json()["refresh_token"])
    assert (successor["aud"], successor["client_id"]) == ("http://testserver", "default-client")
    assert unverified_claims(response.json()["access_token"])["client_id"] == "default-client"
