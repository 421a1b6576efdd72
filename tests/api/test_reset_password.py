from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

import httpx
from sqlalchemy import select, update
from sqlmodel import col

from lib.db import get_engine
from lib.models import EmailToken, User
from tests.fixtures.email_links import expire_token
from tests.fixtures.mail import Mailbox
from tests.fixtures.users import UserFactory, bearer

NEW_PASSWORD = "a brand new secret"


async def reset_link_token(client: httpx.AsyncClient, mailbox: Mailbox, email: str) -> str:
    response = await client.post("/api/v1/forgot-password", json={"email": email})
    assert response.status_code == 202
    return mailbox.last(email, "Reset").token("reset-password")


async def reset(client: httpx.AsyncClient, token: str, password: str = NEW_PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/reset-password", json={"token": token, "new_password": password})


async def test_reset_then_login_with_new_password_and_not_the_old(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()
    token = await reset_link_token(client, smtp_server, user.email)

    response = await reset(client, token)

    assert response.status_code == 204
    assert response.content == b""
    assert (await users.login(user.email, NEW_PASSWORD)).status_code == 200
    old = await users.login(user.email, user.password)
    assert old.status_code == 401
    assert old.json()["code"] == "invalid_credentials"


async def test_reset_email_has_link_with_expiry_and_app_name(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox, settings_env: Callable[..., None]
) -> None:
    settings_env(RESET_TOKEN_EXPIRE_MINUTES="30", APP_NAME="Acme ID")
    user = await users.sign_up(first_name="Ada")
    await reset_link_token(client, smtp_server, user.email)

    received = smtp_server.last(user.email, "Reset")
    assert received.recipients == [user.email]
    assert received.subject == "Reset your Acme ID password"
    assert received.message["From"] == "Acme ID <no-reply@example.com>"
    token = received.token("reset-password")
    for part in (received.text, received.html):
        assert f"https://app.example.com/reset-password?token={token}" in part
        assert "30 minutes" in part
        assert "Hello," in part
        assert "Ada" not in part  # the address is not verified yet: no name in the email
        assert "Acme ID account" in part


async def test_reset_revokes_earlier_access_and_refresh_tokens(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()
    token = await reset_link_token(client, smtp_server, user.email)
    assert (await client.get("/api/v1/user/me", headers=user.headers)).status_code == 200

    assert (await reset(client, token)).status_code == 204

    me = await client.get("/api/v1/user/me", headers=user.headers)
    assert me.status_code == 401
    assert me.json()["code"] == "token_revoked"
    refresh = await client.post("/api/v1/refresh", json={"refresh_token": user.refresh_token})
    assert refresh.status_code == 401


async def test_reset_token_reuse_is_refused(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()
    token = await reset_link_token(client, smtp_server, user.email)
    assert (await reset(client, token)).status_code == 204

    again = await reset(client, token, "yet another secret")

    assert again.status_code == 400
    assert again.json() == {
        "detail": "This link was already used or replaced by a newer one; ask for a new one",
        "code": "token_used",
    }
    assert (await users.login(user.email, NEW_PASSWORD)).status_code == 200


async def test_expired_reset_token_is_refused(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()
    token = await reset_link_token(client, smtp_server, user.email)
    await expire_token(token)

    response = await reset(client, token)

    assert response.status_code == 400
    assert response.json()["code"] == "token_expired"
    assert (await users.login(user.email, user.password)).status_code == 200


async def test_garbage_reset_token_is_refused(client: httpx.AsyncClient) -> None:
    for garbage in ("not-a-token", "x" * 43, "' OR 1=1 --"):
        response = await reset(client, garbage)
        assert response.status_code == 400
        assert response.json() == {"detail": "This link is invalid", "code": "invalid_token"}


async def test_verification_token_cannot_reset_a_password(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()
    verify_token = smtp_server.last(user.email, "Confirm").token("verify-email")

    response = await reset(client, verify_token)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"
    assert (await users.login(user.email, user.password)).status_code == 200
    # The failed attempt did not spend the token for its own purpose.
    assert (await client.post("/api/v1/verify-email", json={"token": verify_token})).status_code == 204


async def test_reset_sends_password_changed_notice(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up(first_name="Grace")
    token = await reset_link_token(client, smtp_server, user.email)

    assert (await reset(client, token)).status_code == 204

    notice = smtp_server.last(user.email)
    assert notice.subject == "Your Auth Service password was changed"
    assert notice.text.startswith("Hello,")  # a security notice carries no name (DESIGN: Passkeys)
    assert "Grace" not in notice.text
    assert "was changed on" in notice.text
    assert "token=" not in notice.text
    assert "token=" not in notice.html


async def test_reset_password_breaking_policy_is_422_and_keeps_the_token(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up(username="someone_else")
    token = await reset_link_token(client, smtp_server, user.email)

    short = await reset(client, token, "short")
    assert short.status_code == 422
    assert short.json()["detail"][0]["type"] == "password_too_short"
    assert short.json()["detail"][0]["loc"] == ["body", "new_password"]
    same_as_email = await reset(client, token, user.email.upper())
    assert same_as_email.status_code == 422
    assert same_as_email.json()["detail"][0]["type"] == "password_contains_email"

    assert (await reset(client, token)).status_code == 204


async def test_reset_password_matching_username_is_422(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up(username="longusername42")
    token = await reset_link_token(client, smtp_server, user.email)

    response = await reset(client, token, "LongUserName42")

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "password_contains_username"


async def test_reset_marks_the_address_verified(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()
    token = await reset_link_token(client, smtp_server, user.email)
    assert (await reset(client, token)).status_code == 204

    login = await users.login(user.email, NEW_PASSWORD)
    me = await client.get("/api/v1/user/me", headers=bearer(login.json()["access_token"]))
    assert me.json()["is_verified"] is True


async def test_reset_token_is_stored_only_as_its_digest(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()
    token = await reset_link_token(client, smtp_server, user.email)

    async with get_engine().connect() as connection:
        rows = (await connection.execute(select(EmailToken))).all()
    stored = [str(value) for row in rows for value in row]
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert not any(token in value for value in stored)


async def test_concurrent_resets_with_one_token_exactly_one_succeeds(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()
    token = await reset_link_token(client, smtp_server, user.email)

    responses = await asyncio.gather(*(reset(client, token, f"concurrent secret {n}") for n in range(4)))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [204, 400, 400, 400]
    assert {response.json()["code"] for response in responses if response.status_code == 400} == {"token_used"}
    winner = next(n for n, response in enumerate(responses) if response.status_code == 204)
    assert (await users.login(user.email, f"concurrent secret {winner}")).status_code == 200


async def test_reset_password_request_is_validated(client: httpx.AsyncClient) -> None:
    for body in ({"token": "", "new_password": NEW_PASSWORD}, {"new_password": NEW_PASSWORD}, {"token": "abc"}):
        assert (await client.post("/api/v1/reset-password", json=body)).status_code == 422


async def test_reset_link_of_a_deactivated_account_is_refused(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()
    token = await reset_link_token(client, smtp_server, user.email)
    async with get_engine().begin() as connection:
        await connection.execute(update(User).where(col(User.email) == user.email).values(is_active=False))

    response = await reset(client, token)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"
