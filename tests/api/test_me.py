from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from lib.db import get_engine
from lib.models import User
from lib.users.schemas import QUESTIONNAIRE_MAX_BYTES
from tests.fixtures.roles import RoleFactory, user_row
from tests.fixtures.users import UserFactory, bearer


def _questionnaire_of_size(size: int) -> dict[str, str]:
    """An object whose compact JSON form is exactly `size` bytes."""
    document = {"a": ""}
    overhead = len(json.dumps(document, separators=(",", ":")))
    return {"a": "x" * (size - overhead)}


async def test_get_me_requires_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/user/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_patch_me_changes_names_and_full_name_follows(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up(first_name="Ada")
    response = await client.patch(
        "/api/v1/user/me", headers=me.headers, json={"first_name": " Augusta ", "last_name": "King"}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["first_name"], body["last_name"], body["full_name"]) == ("Augusta", "King", "Augusta King")
    assert "hashed_password" not in body
    again = await client.get("/api/v1/user/me", headers=me.headers)
    assert again.json()["full_name"] == "Augusta King"


async def test_patch_me_leaves_fields_left_out_unchanged_and_null_clears(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.sign_up(first_name="Ada", last_name="Lovelace")
    await client.patch("/api/v1/user/me", headers=me.headers, json={"background_questionnaire": {"role": "dev"}})
    response = await client.patch("/api/v1/user/me", headers=me.headers, json={"last_name": None})
    assert response.status_code == 200
    body = response.json()
    assert body["first_name"] == "Ada"
    assert body["last_name"] is None
    assert body["full_name"] == "Ada"
    assert body["background_questionnaire"] == {"role": "dev"}


async def test_patch_me_stores_questionnaire_object(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    questionnaire = {"experience": "5 years", "languages": ["python", "sql"], "nested": {"remote": True, "n": 3}}
    response = await client.patch(
        "/api/v1/user/me", headers=me.headers, json={"background_questionnaire": questionnaire}
    )
    assert response.status_code == 200
    assert response.json()["background_questionnaire"] == questionnaire
    row = await user_row(me.email)
    assert row is not None
    assert row["background_questionnaire"] == questionnaire


async def test_patch_me_accepts_questionnaire_of_exactly_16_kib(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    questionnaire = _questionnaire_of_size(QUESTIONNAIRE_MAX_BYTES)
    response = await client.patch(
        "/api/v1/user/me", headers=me.headers, json={"background_questionnaire": questionnaire}
    )
    assert response.status_code == 200
    assert response.json()["background_questionnaire"] == questionnaire


@pytest.mark.parametrize(
    ("payload", "error_type"),
    [
        ({"background_questionnaire": ["a", "list"]}, "dict_type"),
        ({"background_questionnaire": "a string"}, "dict_type"),
        ({"background_questionnaire": 42}, "dict_type"),
        ({"background_questionnaire": _questionnaire_of_size(QUESTIONNAIRE_MAX_BYTES + 1)}, "questionnaire_too_large"),
        ({"background_questionnaire": {"answer": "nul\u0000byte"}}, "string_nul_character"),
        ({"first_name": "x" * 101}, "string_too_long"),
        ({"last_name": "x" * 101}, "string_too_long"),
        ({"first_name": "nul\u0000byte"}, "string_nul_character"),
        ({"role": "admin"}, "extra_forbidden"),
        ({"email": "other@example.com"}, "extra_forbidden"),
    ],
)
async def test_patch_me_rejects_invalid_fields(
    client: httpx.AsyncClient, users: UserFactory, payload: dict[str, Any], error_type: str
) -> None:
    me = await users.sign_up(first_name="Ada")
    response = await client.patch("/api/v1/user/me", headers=me.headers, json=payload)
    assert response.status_code == 422
    field = next(iter(payload))
    errors = response.json()["detail"]
    assert any(error["loc"][:2] == ["body", field] and error["type"] == error_type for error in errors), errors
    row = await user_row(me.email)
    assert row is not None
    assert (row["first_name"], row["role"], row["background_questionnaire"]) == ("Ada", "user", None)


@pytest.mark.parametrize(
    "raw_body",
    [
        '{"background_questionnaire": {"score": NaN}}',
        '{"background_questionnaire": {"text": "\\ud800"}}',
        '{"first_name": "\\udfff"}',
    ],
)
async def test_patch_me_rejects_values_no_database_can_store(
    client: httpx.AsyncClient, users: UserFactory, raw_body: str
) -> None:
    me = await users.sign_up()
    response = await client.patch(
        "/api/v1/user/me", headers={**me.headers, "Content-Type": "application/json"}, content=raw_body
    )
    assert response.status_code == 422, response.text


async def test_patch_me_refuses_json_nested_too_deep_as_a_client_error(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.sign_up()
    deep = '{"background_questionnaire": ' + '{"a":' * 5000 + "1" + "}" * 5000 + "}"
    response = await client.patch(
        "/api/v1/user/me", headers={**me.headers, "Content-Type": "application/json"}, content=deep
    )
    assert response.status_code in (400, 422), response.text
    assert response.json()["code"] == "bad_request" if response.status_code == 400 else response.json()["detail"]


async def test_patch_me_requires_a_token(client: httpx.AsyncClient) -> None:
    response = await client.patch("/api/v1/user/me", json={"first_name": "Eve"})
    assert response.status_code == 401


async def test_delete_me_deactivates_and_ends_every_token(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    response = await client.delete("/api/v1/user/me", headers=me.headers)
    assert response.status_code == 204
    assert response.content == b""

    row = await user_row(me.email)
    assert row is not None
    assert row["is_active"] is False
    rejected = await client.get("/api/v1/user/me", headers=me.headers)
    assert rejected.status_code == 401
    assert rejected.json()["code"] == "token_revoked"
    refresh = await client.post("/api/v1/refresh", json={"refresh_token": me.refresh_token})
    assert refresh.status_code == 401
    login = await users.login(me.username, me.password)
    assert login.status_code == 401
    assert login.json()["code"] == "invalid_credentials"


async def test_delete_me_requires_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.delete("/api/v1/user/me")).status_code == 401


async def test_last_admin_cannot_deactivate_themself(client: httpx.AsyncClient, accounts: RoleFactory) -> None:
    admin = await accounts.create("admin")
    response = await client.delete("/api/v1/user/me", headers=admin.headers)
    assert response.status_code == 409
    assert response.json()["code"] == "last_admin"
    assert (await client.get("/api/v1/user/me", headers=admin.headers)).status_code == 200


async def test_admin_may_deactivate_themself_while_another_admin_remains(
    client: httpx.AsyncClient, accounts: RoleFactory
) -> None:
    admin = await accounts.create("admin")
    await accounts.create("admin")
    response = await client.delete("/api/v1/user/me", headers=admin.headers)
    assert response.status_code == 204
    assert (await client.get("/api/v1/user/me", headers=bearer(admin.access_token))).status_code == 401


async def test_patch_me_answers_422_when_the_bad_input_cannot_be_echoed(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.sign_up()
    response = await client.patch(
        "/api/v1/user/me", headers={**me.headers, "Content-Type": "application/json"}, content='{"\\ud800": NaN}'
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "body"


PUBLIC_FIELDS = {
    "id",
    "sub",
    "email",
    "username",
    "first_name",
    "last_name",
    "full_name",
    "role",
    "is_active",
    "is_verified",
    "mfa_enabled",
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


async def test_an_account_deactivated_in_the_database_loses_its_access_tokens_at_once(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    """Only the `is_active` check can refuse this token: the row changed behind the service's
    back, so the session is neither revoked nor of an older epoch."""
    me = await users.sign_up()
    async with get_engine().begin() as connection:
        await connection.execute(update(User).where(col(User.email) == me.email).values(is_active=False))
    response = await client.get("/api/v1/user/me", headers=me.headers)
    assert (response.status_code, response.json()["code"]) == (401, "token_revoked")
    refused = await client.post("/api/v1/refresh", json={"refresh_token": me.refresh_token})
    assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")
