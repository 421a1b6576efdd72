from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.fixtures.users import PASSWORD, UserFactory, bearer


async def test_sign_up_returns_token_pair(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/sign-up",
        json={"email": "Ada@Example.com", "username": "ada", "password": PASSWORD, "first_name": "Ada"},
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 15 * 60
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    me = await client.get("/api/v1/user/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.com"
    assert me.json()["full_name"] == "Ada"


async def test_sign_up_duplicate_email_in_other_case_conflicts(client: httpx.AsyncClient, users: UserFactory) -> None:
    await users.sign_up(email="grace@example.com", username="grace")
    response = await client.post(
        "/api/v1/sign-up", json={"email": "GRACE@Example.COM", "username": "grace2", "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "An account with this email already exists", "code": "email_taken"}


async def test_sign_up_duplicate_username_in_other_case_conflicts(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    await users.sign_up(email="linus@example.com", username="Linus")
    response = await client.post(
        "/api/v1/sign-up", json={"email": "other@example.com", "username": "linus", "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "username_taken"


@pytest.mark.parametrize(
    ("field", "value", "error_type"),
    [
        ("email", "not-an-email", "value_error"),
        ("email", "a@b", "value_error"),
        ("password", "short", "password_too_short"),
        ("password", "x" * 129, "password_too_long"),
        ("username", "ab", "string_pattern_mismatch"),
        ("username", "bad name!", "string_pattern_mismatch"),
        ("username", "x" * 51, "string_pattern_mismatch"),
        ("first_name", "x" * 101, "string_too_long"),
    ],
)
async def test_sign_up_rejects_invalid_fields(
    client: httpx.AsyncClient, field: str, value: str, error_type: str
) -> None:
    payload = {"email": "valid@example.com", "username": "valid_user", "password": PASSWORD, field: value}
    response = await client.post("/api/v1/sign-up", json=payload)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(error["loc"] == ["body", field] and error["type"] == error_type for error in errors), errors


async def test_sign_up_rejects_password_equal_to_username(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/sign-up", json={"email": "sam@example.com", "username": "samuel.long", "password": "Samuel.Long"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "password_contains_username"


async def test_sign_up_ignores_role_in_payload(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/sign-up",
        json={
            "email": "eve@example.com",
            "username": "eve",
            "password": PASSWORD,
            "role": "admin",
            "is_verified": True,
        },
    )
    assert response.status_code == 201
    me = await client.get("/api/v1/user/me", headers=bearer(response.json()["access_token"]))
    assert me.json()["role"] == "user"
    assert me.json()["is_verified"] is False


async def test_concurrent_sign_ups_with_one_email_create_one_account(client: httpx.AsyncClient) -> None:
    async def attempt(n: int) -> httpx.Response:
        return await client.post(
            "/api/v1/sign-up", json={"email": "race@example.com", "username": f"racer{n}", "password": PASSWORD}
        )

    responses = await asyncio.gather(*(attempt(n) for n in range(20)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 19, [r.text for r in responses if r.status_code not in (201, 409)]
    assert all(r.json()["code"] == "email_taken" for r in responses if r.status_code == 409)


@pytest.mark.parametrize(
    ("field", "value"),
    [("first_name", "nul\x00byte"), ("last_name", "\ud800"), ("password", "lone surrogate \udfff here")],
)
async def test_sign_up_refuses_text_no_database_can_store(client: httpx.AsyncClient, field: str, value: str) -> None:
    payload = {"email": "text@example.com", "username": "texty", "password": PASSWORD, field: value}
    response = await client.post(
        "/api/v1/sign-up",
        content=json.dumps(payload).encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("field", ["username", "password"])
async def test_login_with_unstorable_text_is_422_not_500(client: httpx.AsyncClient, field: str) -> None:
    payload = {"username": "someone", "password": "whatever1", field: "bad\x00\ud800"}
    response = await client.post(
        "/api/v1/login", content=json.dumps(payload).encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
