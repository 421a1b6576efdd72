"""The token endpoint speaks RFC 6749: both grants, form or JSON, and 5.2 error fields on every token endpoint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.fixtures.app import SettingsEnv
from tests.fixtures.users import PASSWORD, UserFactory, bearer


def assert_oauth_error(response: httpx.Response, status: int, error: str, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    assert isinstance(body["error_description"], str)
    assert body["error_description"]
    assert all(" " <= char <= "~" and char not in '"\\' for char in body["error_description"])
    if code is not None:
        assert body["code"] == code
        assert body["detail"]
    return body


@pytest.mark.parametrize("encoding", ["data", "json"])
async def test_refresh_token_grant_rotates_the_pair(
    client: httpx.AsyncClient, users: UserFactory, encoding: str, settings_env: Callable[..., None]
) -> None:
    settings_env(REFRESH_REUSE_GRACE_SECONDS="0")  # the replay below is reuse at once
    user = await users.sign_up()
    request = {"grant_type": "refresh_token", "refresh_token": user.refresh_token}
    response = await client.post("/api/v1/login", **{encoding: request})  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    pair = response.json()
    assert pair["token_type"] == "Bearer"
    assert pair["refresh_token"] != user.refresh_token
    assert response.headers["cache-control"] == "no-store"
    assert (await client.get("/api/v1/user/me", headers=bearer(pair["access_token"]))).status_code == 200
    # the presented token was consumed: presenting it again is reuse
    again = await client.post("/api/v1/login", data=request)
    assert_oauth_error(again, 401, "invalid_grant", "token_reused")


async def test_password_grant_is_the_default_and_can_be_named(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    for form in ({}, {"grant_type": "password"}):
        response = await client.post("/api/v1/login", data={**form, "username": user.email, "password": PASSWORD})
        assert response.status_code == 200, response.text


async def test_wrong_password_is_invalid_grant(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    response = await client.post("/api/v1/login", data={"username": user.email, "password": "wrong password!"})
    assert_oauth_error(response, 401, "invalid_grant", "invalid_credentials")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("token", ["garbage", "a.b.c"])
async def test_bad_refresh_token_is_invalid_grant_at_both_endpoints(client: httpx.AsyncClient, token: str) -> None:
    login = await client.post("/api/v1/login", data={"grant_type": "refresh_token", "refresh_token": token})
    assert_oauth_error(login, 401, "invalid_grant", "invalid_token")
    refresh = await client.post("/api/v1/refresh", json={"refresh_token": token})
    assert_oauth_error(refresh, 401, "invalid_grant", "invalid_token")


async def test_access_token_is_not_a_refresh_grant(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    response = await client.post(
        "/api/v1/login", data={"grant_type": "refresh_token", "refresh_token": user.access_token}
    )
    assert_oauth_error(response, 401, "invalid_grant", "invalid_token")


@pytest.mark.parametrize("grant_type", ["client_credentials", "authorization_code", "PASSWORD"])
async def test_unknown_grant_type_is_unsupported(client: httpx.AsyncClient, grant_type: str) -> None:
    for encoding in ("data", "json"):
        request = {"grant_type": grant_type, "username": "someone", "password": "x"}
        response = await client.post("/api/v1/login", **{encoding: request})  # type: ignore[arg-type]
        assert_oauth_error(response, 400, "unsupported_grant_type", "unsupported_grant_type")


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "refresh_token"},
        {"grant_type": "refresh_token", "refresh_token": ""},
        {"username": "someone"},
        {"password": "x"},
    ],
)
async def test_missing_parameter_is_invalid_request(client: httpx.AsyncClient, form: dict[str, str]) -> None:
    assert_oauth_error(await client.post("/api/v1/login", data=form), 400, "invalid_request", "invalid_request")


async def test_repeated_parameter_is_invalid_request(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    body = f"username={user.email}&password=x&password={PASSWORD}"
    response = await client.post(
        "/api/v1/login", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    body_json = assert_oauth_error(response, 400, "invalid_request", "invalid_request")
    assert "password" in body_json["detail"]


async def test_json_schema_errors_keep_422_with_the_oauth_fields(client: httpx.AsyncClient) -> None:
    login = await client.post("/api/v1/login", json={"grant_type": "refresh_token"})
    assert_oauth_error(login, 422, "invalid_request")
    assert login.json()["detail"][0]["loc"] == ["body", "refresh_token"]
    refresh = await client.post("/api/v1/refresh", json={})
    assert_oauth_error(refresh, 422, "invalid_request")
    assert isinstance(refresh.json()["detail"], list)


async def test_throttled_login_keeps_retry_after(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(LOGIN_MAX_FAILURES="1", LOGIN_FAILURE_WINDOW_SECONDS="600")
    user = await users.sign_up()
    await client.post("/api/v1/login", data={"username": user.email, "password": "wrong password!"})
    response = await client.post("/api/v1/login", data={"username": user.email, "password": PASSWORD})
    assert_oauth_error(response, 429, "temporarily_unavailable", "too_many_requests")
    assert int(response.headers["retry-after"]) > 0


async def test_other_endpoints_keep_the_plain_error_body(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/user/me", headers=bearer("garbage"))
    assert response.status_code == 401
    assert set(response.json()) == {"detail", "code"}
