from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select, update

from lib.db import get_engine
from lib.models import User
from tests.fixtures.app import SettingsEnv
from tests.fixtures.tokens import unverified_claims
from tests.fixtures.users import PASSWORD, UserFactory, bearer


@pytest.mark.parametrize("field", ["email", "username"])
async def test_login_with_form_by_email_or_username(client: httpx.AsyncClient, users: UserFactory, field: str) -> None:
    user = await users.sign_up(username="Margaret")
    identifier = user.email.upper() if field == "email" else "margaret"
    response = await client.post("/api/v1/login", data={"username": identifier, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    me = await client.get("/api/v1/user/me", headers=bearer(body["access_token"]))
    assert me.json()["username"] == "Margaret"


@pytest.mark.parametrize("field", ["email", "username"])
async def test_login_with_json_by_email_or_username(client: httpx.AsyncClient, users: UserFactory, field: str) -> None:
    user = await users.sign_up()
    identifier = user.email if field == "email" else user.username
    response = await client.post("/api/v1/login", json={"username": identifier, "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"access_token", "refresh_token", "token_type", "expires_in"}


async def test_unknown_user_and_wrong_password_answer_identically(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.sign_up()
    wrong_password = await client.post("/api/v1/login", data={"username": user.email, "password": "wrong password"})
    unknown_user = await client.post("/api/v1/login", data={"username": "nobody@example.com", "password": "whatever1"})
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert (
        wrong_password.json()
        == unknown_user.json()
        == {
            "detail": "Incorrect username or password",
            "code": "invalid_credentials",
            "error": "invalid_grant",
            "error_description": "Incorrect username or password",
        }
    )
    assert wrong_password.headers["www-authenticate"] == unknown_user.headers["www-authenticate"] == "Bearer"


async def test_inactive_user_answers_like_a_wrong_password(client: httpx.AsyncClient, users: UserFactory) -> None:
    """The right password of a deactivated account must not be told apart from a wrong one."""
    user = await users.sign_up()
    async with get_engine().begin() as connection:
        await connection.execute(update(User).where(User.email == user.email).values(is_active=False))
    right = await users.login(user.email)
    wrong = await users.login(user.email, "not the password")
    assert right.status_code == wrong.status_code == 401
    assert right.json() == wrong.json()
    assert (right.json()["code"], right.json()["detail"]) == ("invalid_credentials", "Incorrect username or password")
    assert right.headers["www-authenticate"] == wrong.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "payload",
    [
        {"username": "someone"},
        {"password": "x"},
        {"username": "", "password": "x"},
    ],
)
async def test_login_missing_fields_is_400_as_a_form_and_422_as_json(
    client: httpx.AsyncClient, payload: dict[str, str]
) -> None:
    form = await client.post("/api/v1/login", data=payload)
    assert form.status_code == 400
    assert (form.json()["code"], form.json()["error"]) == ("invalid_request", "invalid_request")
    as_json = await client.post("/api/v1/login", json=payload)
    assert as_json.status_code == 422
    assert as_json.json()["error"] == "invalid_request"


async def test_login_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/login", content=b'{"username": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


async def test_login_rejects_other_grant_types(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    response = await client.post(
        "/api/v1/login", data={"username": user.email, "password": PASSWORD, "grant_type": "client_credentials"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_second_login_revokes_first_session_when_single_session(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.sign_up()
    first = (await users.login(user.email)).json()
    second = (await users.login(user.email)).json()
    refused = await client.post("/api/v1/refresh", json={"refresh_token": first["refresh_token"]})
    assert refused.status_code == 401
    assert (await client.get("/api/v1/user/me", headers=bearer(first["access_token"]))).status_code == 401
    assert (await client.get("/api/v1/user/me", headers=bearer(second["access_token"]))).status_code == 200
    assert (await client.post("/api/v1/refresh", json={"refresh_token": second["refresh_token"]})).status_code == 200


async def test_sessions_coexist_when_single_session_is_off(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(SINGLE_SESSION="false")
    user = await users.sign_up()
    first = (await users.login(user.email)).json()
    await users.login(user.email)
    assert (await client.post("/api/v1/refresh", json={"refresh_token": first["refresh_token"]})).status_code == 200


async def test_legacy_bcrypt_hash_is_upgraded_at_login(client: httpx.AsyncClient, users: UserFactory) -> None:
    import bcrypt

    user = await users.sign_up()
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    async with get_engine().begin() as connection:
        await connection.execute(update(User).where(User.email == user.email).values(hashed_password=legacy))
    assert (await users.login(user.email)).status_code == 200
    async with get_engine().connect() as connection:
        stored = (await connection.execute(select(User.hashed_password).where(User.email == user.email))).scalar_one()
    assert stored.startswith("$argon2id$")
    assert (await users.login(user.email)).status_code == 200


async def test_access_token_lifetime_in_seconds_is_honoured(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    settings_env(ACCESS_TOKEN_EXPIRE_SECONDS="7")
    user = await users.sign_up()
    response = await users.login(user.username)
    assert response.status_code == 200, response.text
    body = response.json()
    claims = unverified_claims(body["access_token"])
    assert body["expires_in"] == 7
    assert claims["exp"] - claims["iat"] == 7
