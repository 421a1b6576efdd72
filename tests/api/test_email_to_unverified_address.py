"""An email to an address not proven yet carries nothing the user typed: whoever signs up with a
stranger's address (and a "first name" that reads like a message) cannot put words in our mail."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.fixtures.email_links import age_email_tokens
from tests.fixtures.mail import Mailbox, Received
from tests.fixtures.users import PASSWORD, UserFactory

LURE = "your account is locked: call 555-0100 https://evil.example/x"
SURNAME = "Lurename"
USERNAME = "call_555_0100"


def words_in(received: Received) -> str:
    return f"{received.subject}\n{received.text}\n{received.html}"


def assert_carries_nothing_typed(received: Received, *typed: str) -> None:
    for text in typed:
        assert text not in words_in(received), (text, received.subject)
    assert "evil.example" not in words_in(received)


async def test_the_verification_email_and_its_resends_carry_no_name_or_username(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox, settings_env: Callable[..., None]
) -> None:
    settings_env(EMAIL_THROTTLE_SECONDS="0")
    victim = await users.sign_up(email="stranger@example.com", username=USERNAME, first_name=LURE, last_name=SURNAME)
    assert_carries_nothing_typed(smtp_server.last(victim.email, "Confirm"), LURE, SURNAME, USERNAME)

    renamed = await client.patch("/api/v1/user/me", headers=victim.headers, json={"first_name": "Hi, " + LURE})
    assert renamed.status_code == 200
    assert (await client.post("/api/v1/verify-email/resend", headers=victim.headers)).status_code == 202
    assert (await client.post("/api/v1/verify-email/resend", json={"email": victim.email})).status_code == 202

    confirms = [received for received in smtp_server.to(victim.email) if "Confirm" in received.subject]
    assert len(confirms) == 3
    for received in confirms:
        assert_carries_nothing_typed(received, LURE, SURNAME, USERNAME)
        assert received.text.startswith("Hello,")


async def test_security_notices_never_carry_the_name_and_link_emails_only_to_a_verified_address(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up(first_name=LURE)
    changed = await client.post(
        "/api/v1/user/me/password",
        headers=user.headers,
        json={"current_password": PASSWORD, "new_password": "a second password 2"},
    )
    assert changed.status_code == 200
    unverified_notice = smtp_server.last(user.email, "password was changed")
    assert_carries_nothing_typed(unverified_notice, LURE)
    assert unverified_notice.text.startswith("Hello,")

    token = smtp_server.last(user.email, "Confirm").token("verify-email")
    assert (await client.post("/api/v1/verify-email", json={"token": token})).status_code == 204
    again = await client.post(
        "/api/v1/user/me/password",
        headers={"Authorization": f"Bearer {changed.json()['access_token']}"},
        json={"current_password": "a second password 2", "new_password": "a third password 3"},
    )
    assert again.status_code == 200
    # A security notice carries no name even to a verified address: whoever stole a session could
    # have set it, and must not write to the owner in our name.
    verified_notice = smtp_server.last(user.email, "password was changed")
    assert_carries_nothing_typed(verified_notice, LURE)
    assert verified_notice.text.startswith("Hello,")
    assert (await client.post("/api/v1/forgot-password", json={"email": user.email})).status_code == 202
    assert smtp_server.last(user.email, "Reset").text.startswith(f"Hello {LURE},")  # a link email, verified now


async def test_the_sign_up_attempt_notice_to_an_unverified_owner_carries_no_name(
    client: httpx.AsyncClient, smtp_server: Mailbox, settings_env: Callable[..., None]
) -> None:
    settings_env(REQUIRE_VERIFIED_EMAIL="true")
    planted = {"email": "owner@example.com", "username": USERNAME, "password": PASSWORD, "first_name": LURE}
    assert (await client.post("/api/v1/sign-up", json=planted)).status_code == 202
    await age_email_tokens(3600)  # past the per-account email throttle

    again = {"email": "owner@example.com", "username": "someone_else", "password": PASSWORD}
    assert (await client.post("/api/v1/sign-up", json=again)).status_code == 202

    notice = smtp_server.last("owner@example.com", "Sign-up attempt")
    assert_carries_nothing_typed(notice, LURE, USERNAME)
