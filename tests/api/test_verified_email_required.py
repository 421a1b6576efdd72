"""REQUIRE_VERIFIED_EMAIL=true: no tokens before the address is proven, and nothing that tells
whether an address has an account."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.fixtures.email_links import age_email_tokens
from tests.fixtures.mail import Mailbox
from tests.fixtures.users import PASSWORD, UserFactory, bearer

_numbers = itertools.count(1)
RESEND = "/api/v1/verify-email/resend"


@pytest.fixture
def required(settings_env: Callable[..., None], smtp_server: Mailbox) -> Mailbox:
    settings_env(REQUIRE_VERIFIED_EMAIL="true")
    return smtp_server


def new_account(**overrides: str) -> dict[str, str]:
    n = next(_numbers)
    return {"email": f"proof{n}@example.com", "username": f"proof{n}", "password": PASSWORD, **overrides}


async def sign_up(client: httpx.AsyncClient, payload: dict[str, str]) -> httpx.Response:
    return await client.post("/api/v1/sign-up", json=payload)


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/login", data={"username": username, "password": password})


async def verify(client: httpx.AsyncClient, mailbox: Mailbox, email: str) -> None:
    response = await client.post("/api/v1/verify-email", json={"token": mailbox.last(email).token("verify-email")})
    assert response.status_code == 204, response.text


def accepted_without_tokens(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"detail", "code"}
    assert body["code"] == "verification_required"
    assert "set-cookie" not in response.headers
    return body


async def test_sign_up_answers_202_without_tokens_and_login_waits_for_the_link(
    client: httpx.AsyncClient, required: Mailbox
) -> None:
    account = new_account()

    accepted_without_tokens(await sign_up(client, account))

    refused = await login(client, account["email"])
    assert refused.status_code == 403
    assert refused.json()["code"] == "email_not_verified"
    assert (await login(client, account["email"], "not the password")).status_code == 401
    await verify(client, required, account["email"])
    assert (await login(client, account["username"])).status_code == 200


@pytest.mark.parametrize("owner_verified", [False, True])
async def test_sign_up_with_a_registered_address_answers_alike_and_only_notifies_the_owner(
    client: httpx.AsyncClient, required: Mailbox, owner_verified: bool
) -> None:
    owner = new_account()
    first = accepted_without_tokens(await sign_up(client, owner))
    link = required.last(owner["email"]).token("verify-email")
    if owner_verified:
        await verify(client, required, owner["email"])
    await age_email_tokens(3600)  # no email of the owner's holds back the notice
    before = len(required.to(owner["email"]))

    intruder = new_account(email=owner["email"].upper(), password="someone else's password")
    assert accepted_without_tokens(await sign_up(client, intruder)) == first

    notices = required.to(owner["email"])[before:]
    assert len(notices) == 1
    assert "verify-email?token=" not in notices[0].text + notices[0].html
    # Nothing was stored for the intruder: not the password, not the username.
    assert (await login(client, owner["email"], intruder["password"])).status_code == 401
    accepted_without_tokens(await sign_up(client, new_account(username=intruder["username"])))
    if not owner_verified:  # the owner's link still works
        assert (await client.post("/api/v1/verify-email", json={"token": link})).status_code == 204
    assert (await login(client, owner["email"])).status_code == 200


async def test_taken_username_with_a_new_address_still_gets_409(client: httpx.AsyncClient, required: Mailbox) -> None:
    owner = new_account()
    accepted_without_tokens(await sign_up(client, owner))

    response = await sign_up(client, new_account(username=owner["username"].upper()))

    assert response.status_code == 409
    assert response.json()["code"] == "username_taken"


async def test_tokens_of_an_unverified_account_are_refused_until_it_is_verified(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox, settings_env: Callable[..., None]
) -> None:
    user = await users.sign_up()  # tokens issued before the setting was turned on
    settings_env(REQUIRE_VERIFIED_EMAIL="true")

    refused = [
        await client.get("/api/v1/user/me", headers=user.headers),
        await client.patch("/api/v1/user/me", json={"first_name": "Eve"}, headers=user.headers),
        await client.get("/api/v1/user/me/sessions", headers=user.headers),
        await client.post(
            "/api/v1/user/me/password",
            json={"current_password": user.password, "new_password": "another long secret"},
            headers=user.headers,
        ),
        await client.post("/api/v1/refresh", json={"refresh_token": user.refresh_token}),
    ]

    codes = [(response.status_code, response.json()) for response in refused]
    assert [(status, body.get("code") if isinstance(body, dict) else body) for status, body in codes] == [
        (403, "email_not_verified")
    ] * len(refused)
    await verify(client, smtp_server, user.email)
    me = await client.get("/api/v1/user/me", headers=user.headers)
    assert me.status_code == 200
    assert me.json()["first_name"] is None  # the refused change was not stored
    refreshed = await client.post("/api/v1/refresh", json={"refresh_token": user.refresh_token})
    assert refreshed.status_code == 200
    assert (await client.get("/api/v1/user/me", headers=bearer(refreshed.json()["access_token"]))).status_code == 200
    assert (await login(client, user.email, user.password)).status_code == 200  # nor the refused password


async def test_resend_without_a_token_answers_alike_whether_or_not_an_unverified_account_exists(
    client: httpx.AsyncClient, required: Mailbox
) -> None:
    unverified, verified = new_account(), new_account()
    for account in (unverified, verified):
        accepted_without_tokens(await sign_up(client, account))
    await verify(client, required, verified["email"])
    await age_email_tokens(3600)  # the sign-up emails no longer hold back another one
    sent_before = len(required.messages)

    answers = [
        await client.post(RESEND, json={"email": email})
        for email in (unverified["email"], verified["email"], "nobody@example.com")
    ]

    assert [response.status_code for response in answers] == [202, 202, 202]
    assert answers[0].json() == answers[1].json() == answers[2].json()
    new = required.messages[sent_before:]
    assert [message.recipients for message in new] == [[unverified["email"]]]
    await verify(client, required, unverified["email"])
    assert (await login(client, unverified["username"])).status_code == 200


async def test_resend_right_after_sign_up_answers_like_an_unknown_address(
    client: httpx.AsyncClient, required: Mailbox
) -> None:
    account = new_account()
    accepted_without_tokens(await sign_up(client, account))

    recent = await client.post(RESEND, json={"email": account["email"]})
    unknown = await client.post(RESEND, json={"email": "nobody@example.com"})

    assert (recent.status_code, recent.json()) == (unknown.status_code, unknown.json())
    assert recent.status_code == 202
