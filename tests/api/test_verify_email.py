from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from tests.fixtures.email_links import expire_token
from tests.fixtures.mail import Mailbox, free_port
from tests.fixtures.users import PASSWORD, UserFactory, bearer


async def verify(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/verify-email", json={"token": token})


async def is_verified(client: httpx.AsyncClient, headers: dict[str, str]) -> bool:
    me = await client.get("/api/v1/user/me", headers=headers)
    assert me.status_code == 200
    return bool(me.json()["is_verified"])


async def test_sign_up_emails_a_link_that_verifies_the_address(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up(first_name="Ada")
    assert await is_verified(client, user.headers) is False

    received = smtp_server.last(user.email)
    assert received.subject == "Confirm your email address for Auth Service"
    token = received.token("verify-email")
    assert f"https://app.example.com/verify-email?token={token}" in received.html
    assert "48 hours" in received.text

    response = await verify(client, token)

    assert response.status_code == 204
    assert await is_verified(client, user.headers) is True


async def test_verification_token_reuse_is_refused(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()
    token = smtp_server.last(user.email).token("verify-email")
    assert (await verify(client, token)).status_code == 204

    again = await verify(client, token)

    assert again.status_code == 400
    assert again.json()["code"] == "token_used"


async def test_expired_and_garbage_verification_tokens_are_refused(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()
    token = smtp_server.last(user.email).token("verify-email")
    await expire_token(token)

    expired = await verify(client, token)
    garbage = await verify(client, "garbage")

    assert expired.status_code == 400
    assert expired.json() == {"detail": "This link has expired; ask for a new one", "code": "token_expired"}
    assert garbage.status_code == 400
    assert garbage.json()["code"] == "invalid_token"
    assert await is_verified(client, user.headers) is False


async def test_reset_token_cannot_verify_an_address(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()
    await client.post("/api/v1/forgot-password", json={"email": user.email})
    reset_token = smtp_server.last(user.email, "Reset").token("reset-password")

    response = await verify(client, reset_token)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"
    assert await is_verified(client, user.headers) is False


async def test_resend_gives_a_new_working_link(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox, settings_env: Callable[..., None]
) -> None:
    settings_env(EMAIL_THROTTLE_SECONDS="0")
    user = await users.sign_up()
    first = smtp_server.last(user.email).token("verify-email")

    response = await client.post("/api/v1/verify-email/resend", headers=user.headers)

    assert response.status_code == 202
    assert response.json() == {"detail": "A new verification link has been sent to your email address."}
    assert len(smtp_server.to(user.email)) == 2
    second = smtp_server.last(user.email).token("verify-email")
    assert second != first
    assert (await verify(client, first)).json()["code"] == "token_used"
    assert (await verify(client, second)).status_code == 204
    assert await is_verified(client, user.headers) is True


async def test_resend_is_throttled_with_retry_after(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()

    response = await client.post("/api/v1/verify-email/resend", headers=user.headers)

    assert response.status_code == 429
    assert response.json()["code"] == "too_many_requests"
    assert 0 < int(response.headers["retry-after"]) <= 60
    assert len(smtp_server.to(user.email)) == 1


async def test_resend_for_a_verified_address_sends_nothing(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox, settings_env: Callable[..., None]
) -> None:
    settings_env(EMAIL_THROTTLE_SECONDS="0")
    user = await users.sign_up()
    assert (await verify(client, smtp_server.last(user.email).token("verify-email"))).status_code == 204

    response = await client.post("/api/v1/verify-email/resend", headers=user.headers)

    assert response.status_code == 202
    assert response.json() == {"detail": "Your email address is already verified."}
    assert len(smtp_server.to(user.email)) == 1


async def test_resend_needs_a_bearer_token(client: httpx.AsyncClient) -> None:
    anonymous = await client.post("/api/v1/verify-email/resend")
    forged = await client.post("/api/v1/verify-email/resend", headers=bearer("not.a.jwt"))

    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert forged.status_code == 401


async def test_a_verified_owners_name_arrives_escaped_in_the_html_part(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up(first_name="<script>x</script>", last_name='"><img src=x onerror=alert(1)>')
    assert (await verify(client, smtp_server.last(user.email).token("verify-email"))).status_code == 204
    assert (await client.post("/api/v1/forgot-password", json={"email": user.email})).status_code == 202

    received = smtp_server.last(user.email, "Reset")

    assert "Hello &lt;script&gt;x&lt;/script&gt;," in received.html
    assert "<script>" not in received.html
    assert "Hello <script>x</script>," in received.text  # plain text is not markup


async def test_smtp_down_sign_up_still_201_and_the_user_can_ask_again(
    client: httpx.AsyncClient,
    users: UserFactory,
    smtp_server: Mailbox,
    settings_env: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings_env(SMTP_PORT=str(free_port()))  # nothing listens there

    with caplog.at_level(logging.WARNING, logger="auth.email"):
        user = await users.sign_up()  # asserts 201

    assert "verify_email" in caplog.text
    assert "token=" not in caplog.text
    assert await is_verified(client, user.headers) is False
    settings_env(SMTP_PORT=str(smtp_server.port))
    resend = await client.post("/api/v1/verify-email/resend", headers=user.headers)
    assert resend.status_code == 202  # the failed email did not count against the throttle
    assert (await verify(client, smtp_server.last(user.email).token("verify-email"))).status_code == 204


async def test_login_needs_a_verified_address_when_required(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox, settings_env: Callable[..., None]
) -> None:
    user = await users.sign_up()
    settings_env(REQUIRE_VERIFIED_EMAIL="true")

    refused = await users.login(user.email, PASSWORD)

    assert refused.status_code == 403
    assert refused.json() == {
        "detail": "Email address is not verified",
        "code": "email_not_verified",
        "error": "invalid_grant",
        "error_description": "Email address is not verified",
    }
    assert (await verify(client, smtp_server.last(user.email).token("verify-email"))).status_code == 204
    assert (await users.login(user.email, PASSWORD)).status_code == 200


async def test_unverified_login_is_allowed_by_default(users: UserFactory, smtp_server: Mailbox) -> None:
    user = await users.sign_up()

    assert (await users.login(user.username, PASSWORD)).status_code == 200
