"""Input an attacker (or an unusual keyboard) sends: each gets a 4xx and nothing is stored."""

from __future__ import annotations

import unicodedata
from typing import Any

import httpx
import pytest

from lib.users.schemas import QUESTIONNAIRE_MAX_DEPTH
from tests.fixtures.mail import Mailbox
from tests.fixtures.roles import user_row
from tests.fixtures.users import PASSWORD, UserFactory


def nested(depth: int) -> dict[str, Any]:
    """An object `depth` levels deep: {"a": {"a": ... {"a": 1}}}."""
    document: dict[str, Any] = {"a": 1}
    for _ in range(depth - 1):
        document = {"a": document}
    return document


async def patch_nested_questionnaire(client: httpx.AsyncClient, headers: dict[str, str], depth: int) -> httpx.Response:
    raw = '{"background_questionnaire": ' + '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1) + "}"
    return await client.patch("/api/v1/user/me", headers={**headers, "Content-Type": "application/json"}, content=raw)


@pytest.mark.parametrize("depth", [QUESTIONNAIRE_MAX_DEPTH + 1, 256, 600, 900])
async def test_questionnaire_nested_too_deep_is_422_and_not_stored(
    client: httpx.AsyncClient, users: UserFactory, depth: int
) -> None:
    me = await users.sign_up()
    response = await patch_nested_questionnaire(client, me.headers, depth)
    assert response.status_code == 422, response.text[:500]
    errors = response.json()["detail"]
    assert [error["type"] for error in errors] == ["questionnaire_too_deep"], errors
    row = await user_row(me.email)
    assert row is not None
    assert row["background_questionnaire"] is None


async def test_json_deeper_than_the_parser_allows_is_400_and_not_stored(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.sign_up()
    response = await patch_nested_questionnaire(client, me.headers, 1480)
    assert response.status_code == 400, response.text[:500]
    assert response.json() == {"detail": "There was an error parsing the body", "code": "bad_request"}
    row = await user_row(me.email)
    assert row is not None
    assert row["background_questionnaire"] is None


async def test_questionnaire_at_the_depth_limit_is_stored(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    document = nested(QUESTIONNAIRE_MAX_DEPTH)
    response = await client.patch("/api/v1/user/me", headers=me.headers, json={"background_questionnaire": document})
    assert response.status_code == 200, response.text
    assert response.json()["background_questionnaire"] == document


def test_questionnaire_depth_counts_lists_too() -> None:
    from pydantic import ValidationError

    from lib.users.schemas import UserUpdate

    document: Any = 1
    for _ in range(QUESTIONNAIRE_MAX_DEPTH):
        document = [document]
    UserUpdate(background_questionnaire={"a": document[0]})  # exactly at the limit
    with pytest.raises(ValidationError, match="questionnaire_too_deep"):
        UserUpdate(background_questionnaire={"a": document})


HOSTILE_NAMES = [
    "Ada\nSECURITY ALERT: verify at https://evil.example",
    "Ada\r\nBcc: victim@example.com",
    "Ada\tLovelace",
    "Ada\x1b[31m",
    "Ada\x7f",
    "\u202eecilA",  # right-to-left override
    "Ada\u2066x\u2069",  # bidi isolates
    "Ada\u200b",  # zero-width space (format)
    "Ada\ufeff",
    "Ada\u2028Line",  # line separator
    "Ada\u2029Para",  # paragraph separator
    "Ada\x85",  # next line (a C1 control)
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("field", ["first_name", "last_name"])
async def test_sign_up_refuses_control_and_bidi_characters_in_names(
    client: httpx.AsyncClient, smtp_server: Mailbox, field: str, name: str
) -> None:
    payload = {"email": "names@example.com", "username": "namer", "password": PASSWORD, field: name}
    response = await client.post("/api/v1/sign-up", json=payload)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [(error["loc"], error["type"]) for error in errors] == [(["body", field], "name_invalid_character")]
    assert await user_row("names@example.com") is None
    assert smtp_server.messages == []


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("field", ["first_name", "last_name"])
async def test_profile_update_refuses_control_and_bidi_characters_in_names(
    client: httpx.AsyncClient, users: UserFactory, field: str, name: str
) -> None:
    me = await users.sign_up(first_name="Ada", last_name="Lovelace")
    response = await client.patch("/api/v1/user/me", headers=me.headers, json={field: name})
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [(error["loc"], error["type"]) for error in errors] == [(["body", field], "name_invalid_character")]
    row = await user_row(me.email)
    assert row is not None
    assert (row["first_name"], row["last_name"]) == ("Ada", "Lovelace")


@pytest.mark.parametrize("name", ["Zoë", "José María", "O'Brien-Smith", "李", "محمد", "Ærøskøbing", "Nguyễn"])
async def test_names_in_any_script_are_accepted(client: httpx.AsyncClient, users: UserFactory, name: str) -> None:
    me = await users.sign_up(first_name=name)
    assert me.body  # signed up
    response = await client.patch("/api/v1/user/me", headers=me.headers, json={"last_name": name})
    assert response.status_code == 200, response.text
    assert (response.json()["first_name"], response.json()["last_name"]) == (name, name)


NFD_EMAIL = unicodedata.normalize("NFD", "José.Müller@Exämple.com")


async def test_an_address_registered_in_nfd_logs_in_with_the_same_string(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    assert NFD_EMAIL != unicodedata.normalize("NFC", NFD_EMAIL)
    await users.sign_up(email=NFD_EMAIL, username="jose")
    row = await user_row("josé.müller@exämple.com")
    assert row is not None  # stored in one form: NFC, lower-cased

    for typed in (NFD_EMAIL, unicodedata.normalize("NFC", NFD_EMAIL), "JOSÉ.MÜLLER@EXÄMPLE.COM"):
        response = await users.login(typed)
        assert response.status_code == 200, (typed, response.text)


async def test_an_nfd_address_is_taken_by_its_nfc_twin(client: httpx.AsyncClient, users: UserFactory) -> None:
    await users.sign_up(email=unicodedata.normalize("NFC", NFD_EMAIL), username="jose1")
    response = await client.post(
        "/api/v1/sign-up", json={"email": NFD_EMAIL, "username": "jose2", "password": PASSWORD}
    )
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "email_taken"


async def test_forgot_password_finds_an_account_by_its_nfd_address(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    await users.sign_up(email=unicodedata.normalize("NFC", NFD_EMAIL), username="jose")
    response = await client.post("/api/v1/forgot-password", json={"email": NFD_EMAIL.upper()})
    assert response.status_code == 202, response.text
    assert smtp_server.last("josé.müller@exämple.com", "Reset").token("reset-password")


async def test_an_idna_domain_is_one_account_in_either_form(client: httpx.AsyncClient, users: UserFactory) -> None:
    await users.sign_up(email="ana@bücher.example", username="ana")
    response = await client.post(
        "/api/v1/sign-up", json={"email": "ana@xn--bcher-kva.example", "username": "ana2", "password": PASSWORD}
    )
    assert response.status_code == 409, response.text
    assert (await users.login("ANA@XN--BCHER-KVA.EXAMPLE")).status_code == 200
