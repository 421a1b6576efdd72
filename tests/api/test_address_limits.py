"""Sign-up, forgot-password and verification resend are limited per client address, so one
client cannot create accounts in bulk or flood inboxes; other addresses are not affected."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.fixtures.email_links import age_email_tokens
from tests.fixtures.mail import Mailbox
from tests.fixtures.roles import user_row
from tests.fixtures.users import PASSWORD, UserFactory

HERE = {"X-Real-IP": "203.0.113.10"}
ELSEWHERE = {"X-Real-IP": "198.51.100.20"}


@pytest.fixture
def limited(settings_env: Callable[..., None]) -> Callable[..., None]:
    settings_env(TRUSTED_IP_HEADER="X-Real-IP", ADDRESS_LIMIT_WINDOW_SECONDS="600")
    return settings_env


def assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "too_many_requests"
    assert set(response.json()) >= {"detail", "code"}
    assert 0 < int(response.headers["retry-after"]) <= 600


def account(n: int) -> dict[str, str]:
    return {"email": f"bulk{n}@example.com", "username": f"bulk{n}", "password": PASSWORD}


async def test_sign_up_is_limited_per_address(client: httpx.AsyncClient, limited: Callable[..., None]) -> None:
    limited(SIGNUP_MAX_PER_IP="3")
    for n in range(3):
        assert (await client.post("/api/v1/sign-up", json=account(n), headers=HERE)).status_code == 201

    refused = await client.post("/api/v1/sign-up", json=account(3), headers=HERE)

    assert_throttled(refused)
    assert await user_row("bulk3@example.com") is None
    assert (await client.post("/api/v1/sign-up", json=account(3), headers=ELSEWHERE)).status_code == 201


async def test_forgot_password_is_limited_per_address(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox, limited: Callable[..., None]
) -> None:
    limited(FORGOT_PASSWORD_MAX_PER_IP="3")
    user = await users.sign_up()
    for n in range(3):
        response = await client.post("/api/v1/forgot-password", json={"email": f"nobody{n}@example.com"}, headers=HERE)
        assert response.status_code == 202

    refused = await client.post("/api/v1/forgot-password", json={"email": user.email}, headers=HERE)

    assert_throttled(refused)
    assert not [message for message in smtp_server.to(user.email) if "Reset" in message.subject]
    accepted = await client.post("/api/v1/forgot-password", json={"email": user.email}, headers=ELSEWHERE)
    assert accepted.status_code == 202
    assert smtp_server.last(user.email, "Reset").token("reset-password")


async def test_verification_resend_is_limited_per_address(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox, limited: Callable[..., None]
) -> None:
    limited(VERIFY_RESEND_MAX_PER_IP="3")
    user = await users.sign_up()
    await age_email_tokens(3600)  # the sign-up email no longer holds back another one
    for n in range(3):
        response = await client.post(
            "/api/v1/verify-email/resend", json={"email": f"nobody{n}@example.com"}, headers=HERE
        )
        assert response.status_code == 202
    sent = len(smtp_server.to(user.email))

    refused = await client.post("/api/v1/verify-email/resend", json={"email": user.email}, headers=HERE)

    assert_throttled(refused)
    assert len(smtp_server.to(user.email)) == sent
    accepted = await client.post("/api/v1/verify-email/resend", json={"email": user.email}, headers=ELSEWHERE)
    assert accepted.status_code == 202
    assert len(smtp_server.to(user.email)) == sent + 1
