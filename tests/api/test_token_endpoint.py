"""The token endpoint speaks RFC 6749: both grants, form or JSON, and 5.2 error fields on every token endpoint.

A request that names its `grant_type` is a standard client's: a refused grant answers 400
`invalid_grant` without a Bearer challenge. Without `grant_type` (the service's own form and
JSON), and at /api/v1/refresh, a refused grant keeps its 401 with `WWW-Authenticate: Bearer`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.fixtures.app import SettingsEnv
from tests.fixtures.tokens import unverified_claims
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
    assert_oauth_error(again, 400, "invalid_grant", "token_reused")
    assert "www-authenticate" not in again.headers


async def test_password_grant_is_the_default_and_can_be_named(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    for form in ({}, {"grant_type": "password"}):
        response = await client.post("/api/v1/login", data={**form, "username": user.email, "password": PASSWORD})
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("encoding", ["data", "json"])
async def test_wrong_password_without_grant_type_keeps_401_with_a_bearer_challenge(
    client: httpx.AsyncClient, users: UserFactory, encoding: str
) -> None:
    user = await users.sign_up()
    request = {"username": user.email, "password": "wrong password!"}
    response = await client.post("/api/v1/login", **{encoding: request})  # type: ignore[arg-type]
    assert_oauth_error(response, 401, "invalid_grant", "invalid_credentials")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("encoding", ["data", "json"])
async def test_wrong_password_of_a_token_request_is_400_invalid_grant_without_a_challenge(
    client: httpx.AsyncClient, users: UserFactory, encoding: str
) -> None:
    user = await users.sign_up()
    request = {"grant_type": "password", "username": user.email, "password": "wrong password!"}
    response = await client.post("/api/v1/login", **{encoding: request})  # type: ignore[arg-type]
    body = assert_oauth_error(response, 400, "invalid_grant", "invalid_credentials")
    assert body["error_description"] == "Incorrect username or password"
    assert "www-authenticate" not in response.headers
    unknown = await client.post("/api/v1/login", **{encoding: {**request, "username": "nobody@example.com"}})  # type: ignore[arg-type]
    assert (unknown.status_code, unknown.json()) == (400, body), "an unknown account answers alike"


async def test_inactive_account_of_a_token_request_is_400_invalid_grant(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.sign_up()
    assert (await client.delete("/api/v1/user/me", headers=user.headers)).status_code == 204
    response = await client.post(
        "/api/v1/login", data={"grant_type": "password", "username": user.email, "password": PASSWORD}
    )
    assert_oauth_error(response, 400, "invalid_grant", "invalid_credentials")
    assert "www-authenticate" not in response.headers


@pytest.mark.parametrize("token", ["garbage", "a.b.c"])
async def test_bad_refresh_token_is_invalid_grant_at_both_endpoints(client: httpx.AsyncClient, token: str) -> None:
    login = await client.post("/api/v1/login", data={"grant_type": "refresh_token", "refresh_token": token})
    assert_oauth_error(login, 400, "invalid_grant", "invalid_token")
    assert "www-authenticate" not in login.headers
    refresh = await client.post("/api/v1/refresh", json={"refresh_token": token})
    assert_oauth_error(refresh, 401, "invalid_grant", "invalid_token")
    assert refresh.headers["www-authenticate"].startswith("Bearer")


async def test_access_token_is_not_a_refresh_grant(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    response = await client.post(
        "/api/v1/login", data={"grant_type": "refresh_token", "refresh_token": user.access_token}
    )
    assert_oauth_error(response, 400, "invalid_grant", "invalid_token")


async def test_revoked_refresh_token_is_400_invalid_grant(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    assert (await client.post("/api/v1/revoke", data={"token": user.refresh_token})).status_code == 200
    response = await client.post(
        "/api/v1/login", json={"grant_type": "refresh_token", "refresh_token": user.refresh_token}
    )
    assert_oauth_error(response, 400, "invalid_grant")
    assert "www-authenticate" not in response.headers


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


async def test_json_schema_errors_of_a_token_request_are_400_invalid_request(client: httpx.AsyncClient) -> None:
    login = await client.post("/api/v1/login", json={"grant_type": "refresh_token"})
    body = assert_oauth_error(login, 400, "invalid_request", "invalid_request")
    assert "refresh_token" in body["error_description"]


async def test_json_schema_errors_without_grant_type_keep_422_with_the_oauth_fields(client: httpx.AsyncClient) -> None:
    login = await client.post("/api/v1/login", json={"username": "someone"})
    assert_oauth_error(login, 422, "invalid_request")
    assert login.json()["detail"][0]["loc"] == ["body", "password"]
    refresh = await client.post("/api/v1/refresh", json={})
    assert_oauth_error(refresh, 422, "invalid_request")
    assert isinstance(refresh.json()["detail"], list)


@pytest.mark.parametrize("grant", [{}, {"grant_type": "password"}])
async def test_throttled_login_keeps_429_and_retry_after(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv, grant: dict[str, str]
) -> None:
    settings_env(LOGIN_MAX_FAILURES="1", LOGIN_FAILURE_WINDOW_SECONDS="600")
    user = await users.sign_up()
    await client.post("/api/v1/login", data={**grant, "username": user.email, "password": "wrong password!"})
    response = await client.post("/api/v1/login", data={**grant, "username": user.email, "password": PASSWORD})
    assert_oauth_error(response, 429, "temporarily_unavailable", "too_many_requests")
    assert int(response.headers["retry-after"]) > 0


async def test_other_endpoints_keep_the_plain_error_body(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/user/me", headers=bearer("garbage"))
    assert response.status_code == 401
    assert set(response.json()) == {"detail", "code"}


@pytest.mark.parametrize("encoding", ["data", "json"])
async def test_access_tokens_carry_the_client_id_of_the_token_request_through_refreshes(
    client: httpx.AsyncClient, users: UserFactory, encoding: str
) -> None:
    user = await users.sign_up()
    request = {"grant_type": "password", "username": user.email, "password": PASSWORD, "client_id": "web-app"}
    login = await client.post("/api/v1/login", **{encoding: request})  # type: ignore[arg-type]
    assert login.status_code == 200, login.text
    assert unverified_claims(login.json()["access_token"])["client_id"] == "web-app"
    # the session keeps it: a refresh grant that names no client, and /api/v1/refresh
    refreshed = await client.post(
        "/api/v1/login", data={"grant_type": "refresh_token", "refresh_token": login.json()["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    assert unverified_claims(refreshed.json()["access_token"])["client_id"] == "web-app"
    again = await client.post("/api/v1/refresh", json={"refresh_token": refreshed.json()["refresh_token"]})
    assert again.status_code == 200, again.text
    assert unverified_claims(again.json()["access_token"])["client_id"] == "web-app"


async def test_a_token_request_without_client_id_gets_the_default(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(DEFAULT_CLIENT_ID="first-party")
    user = await users.sign_up()
    login = await client.post("/api/v1/login", data={"username": user.email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    assert unverified_claims(login.json()["access_token"])["client_id"] == "first-party"


async def test_a_refresh_token_is_refused_to_another_client(client: httpx.AsyncClient, users: UserFactory) -> None:
    """RFC 6749 10.4: a refresh token stays bound to the client it was issued to."""
    user = await users.sign_up()
    login = await client.post(
        "/api/v1/login", data={"username": user.email, "password": PASSWORD, "client_id": "web-app"}
    )
    token = login.json()["refresh_token"]
    other = await client.post(
        "/api/v1/login", data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "other-app"}
    )
    assert_oauth_error(other, 400, "invalid_grant", "invalid_token")
    same = await client.post(
        "/api/v1/login", data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "web-app"}
    )
    assert same.status_code == 200, "the refused request did not consume the token"


@pytest.mark.parametrize("client_id", ["has space", "x" * 129, "naïve", "a\nb", "<script>"])
@pytest.mark.parametrize("grant", [{}, {"grant_type": "password"}])
@pytest.mark.parametrize("encoding", ["data", "json"])
async def test_a_malformed_client_id_is_invalid_request(
    client: httpx.AsyncClient, client_id: str, grant: dict[str, str], encoding: str
) -> None:
    request = {**grant, "username": "someone@example.com", "password": "whatever it is", "client_id": client_id}
    response = await client.post("/api/v1/login", **{encoding: request})  # type: ignore[arg-type]
    body = assert_oauth_error(response, 400, "invalid_request", "invalid_request")
    assert body["detail"].startswith("client_id must be 1 to 128 of letters, digits")


async def test_a_non_string_client_id_in_json_is_invalid_request(client: httpx.AsyncClient) -> None:
    request = {"grant_type": "password", "username": "someone", "password": "x", "client_id": 7}
    response = await client.post("/api/v1/login", json=request)
    assert_oauth_error(response, 400, "invalid_request", "invalid_request")


async def test_login_declares_both_answers_to_a_refused_grant(client: httpx.AsyncClient) -> None:
    responses = (await client.get("/openapi.json")).json()["paths"]["/api/v1/login"]["post"]["responses"]
    assert "invalid_credentials" in responses["400"]["description"]
    assert "token_reused" in responses["400"]["description"]
    assert "invalid_credentials" in responses["401"]["description"]
    refresh = (await client.get("/openapi.json")).json()["paths"]["/api/v1/refresh"]["post"]["responses"]
    assert "token_reused" not in refresh.get("400", {}).get("description", "")
