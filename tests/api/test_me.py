from __future__ import annotations

import httpx
import pytest

from tests.fixtures.users import UserFactory, bearer

PUBLIC_FIELDS = {
    "id",
    "email",
    "username",
    "first_name",
    "last_name",
    "full_name",
    "role",
    "is_active",
    "is_verified",
    "background_questionnaire",
    "created_at",
    "updated_at",
}


async def test_me_returns_public_fields_only(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up(first_name="Ada", last_name="Lovelace")
    response = await client.get("/api/v1/user/me", headers=user.headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PUBLIC_FIELDS
    assert body["full_name"] == "Ada Lovelace"
    assert body["role"] == "user"
    assert body["is_active"] is True
    assert "hash" not in response.text.lower()
    assert user.password not in response.text
    assert body["created_at"].endswith(("Z", "+00:00"))


async def test_me_without_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/user/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Not authenticated", "code": "not_authenticated"}


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "Bearer", "x" * 9000, "eyJhbGciOiJSUzI1NiJ9.e30.AAAA"])
async def test_me_with_bad_token_is_401(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get("/api/v1/user/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert response.json()["code"] == "invalid_token"


async def test_me_with_basic_auth_scheme_is_401(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    response = await client.get("/api/v1/user/me", headers={"Authorization": f"Basic {user.access_token}"})
    assert response.status_code == 401
