"""A reset link sent before a password change must not undo it (someone who read the mailbox
then, or the old link left in it, cannot take the account back)."""

from __future__ import annotations

import httpx

from tests.fixtures.email_links import age_email_tokens
from tests.fixtures.mail import Mailbox
from tests.fixtures.recovery import NEW_PASSWORD, reset_link, reset_password
from tests.fixtures.users import UserFactory

CHANGED = "changed on purpose"


async def change_password(client: httpx.AsyncClient, headers: dict[str, str], current: str) -> None:
    response = await client.post(
        "/api/v1/user/me/password", json={"current_password": current, "new_password": CHANGED}, headers=headers
    )
    assert response.status_code == 200, response.text


async def test_a_password_change_retires_reset_links_sent_before_it(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()
    token = await reset_link(client, smtp_server, user.email)
    await change_password(client, user.headers, user.password)

    response = await reset_password(client, token)

    assert response.status_code == 400
    assert response.json()["code"] in {"invalid_token", "token_used", "token_expired"}
    assert (await users.login(user.email, NEW_PASSWORD)).status_code == 401
    assert (await users.login(user.email, CHANGED)).status_code == 200


async def test_a_link_asked_for_after_the_change_still_resets(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()
    await change_password(client, user.headers, user.password)
    await age_email_tokens(3600)  # past the per-account email throttle
    token = await reset_link(client, smtp_server, user.email)

    assert (await reset_password(client, token)).status_code == 204
    assert (await users.login(user.email, NEW_PASSWORD)).status_code == 200
