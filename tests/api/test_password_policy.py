from __future__ import annotations

import httpx
import pytest

from tests.fixtures.app import SettingsEnv
from tests.fixtures.users import UserFactory

EMAIL = "margaret.hamilton@example.com"
USERNAME = "apollo_guidance"


async def sign_up(client: httpx.AsyncClient, password: str) -> httpx.Response:
    return await client.post("/api/v1/sign-up", json={"email": EMAIL, "username": USERNAME, "password": password})


def error_types(response: httpx.Response) -> list[str]:
    return [error["type"] for error in response.json()["detail"] if error["loc"] == ["body", "password"]]


@pytest.mark.parametrize(
    ("password", "error_type"),
    [
        ("q7#Lm2@", "password_too_short"),
        ("k" * 64 + "Q" * 65, "password_too_long"),
        ("password1", "password_too_common"),
        ("Trustno1", "password_too_common"),  # the list is matched regardless of letter case
        ("my APOLLO_GUIDANCE rocks", "password_contains_username"),
        ("xx-Margaret.Hamilton-xx", "password_contains_email"),
        ("       ", "password_too_short"),
    ],
)
async def test_sign_up_rejects_passwords_breaking_the_policy(
    client: httpx.AsyncClient, password: str, error_type: str
) -> None:
    response = await sign_up(client, password)
    assert response.status_code == 422
    assert error_types(response) == [error_type]


@pytest.mark.parametrize(
    "password",
    [
        "q7#Lm2@x",  # exactly 8
        "k" * 64 + "Q" * 64,  # exactly 128
        "correct horse 🐴 battery staple 📎 but much longer than one would ever type, really — über long",
        "日本語のパスフレーズです",
        "        spaces count as characters ",
    ],
)
async def test_sign_up_accepts_passwords_within_the_policy(client: httpx.AsyncClient, password: str) -> None:
    response = await sign_up(client, password)
    assert response.status_code == 201, response.text


async def test_password_is_not_echoed_in_validation_errors(client: httpx.AsyncClient) -> None:
    response = await sign_up(client, "password1")
    assert response.status_code == 422
    assert "password1" not in response.text


async def test_min_length_is_a_setting(client: httpx.AsyncClient, settings_env: SettingsEnv) -> None:
    settings_env(PASSWORD_MIN_LENGTH="12")
    assert error_types(await sign_up(client, "q7#Lm2@xq7#")) == ["password_too_short"]
    assert (await sign_up(client, "q7#Lm2@xq7#L")).status_code == 201


async def test_login_still_accepts_an_existing_password_the_policy_would_now_refuse(
    users: UserFactory, settings_env: SettingsEnv
) -> None:
    user = await users.sign_up(password="q7#Lm2@xq7")
    settings_env(PASSWORD_MIN_LENGTH="12")
    assert (await users.login(user.username, "q7#Lm2@xq7")).status_code == 200


async def test_missing_field_error_does_not_echo_the_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/sign-up", json={"email": EMAIL, "password": "a secret passphrase"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "username"]
    assert "a secret passphrase" not in response.text
