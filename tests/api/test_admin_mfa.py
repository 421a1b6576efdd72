"""An admin can turn a user's two-factor login off (a lost phone), never on."""

from __future__ import annotations

import httpx

from tests.fixtures.mail import Mailbox
from tests.fixtures.mfa import enrol
from tests.fixtures.roles import RoleFactory, user_row
from tests.fixtures.users import UserFactory, bearer


async def test_admin_turns_a_users_mfa_off_ending_their_sessions(
    client: httpx.AsyncClient, users: UserFactory, accounts: RoleFactory, smtp_server: Mailbox
) -> None:
    admin = await accounts.create("admin")
    member = await users.sign_up()
    await enrol(client, member)
    assert (await users.login(member.username)).status_code == 403
    user_id = (await client.get("/api/v1/user/me", headers=member.headers)).json()["id"]

    response = await client.patch(f"/api/v1/admin/users/{user_id}", headers=admin.headers, json={"mfa_enabled": False})
    assert response.status_code == 200
    assert response.json()["mfa_enabled"] is False
    row = await user_row(member.email)
    assert row is not None
    assert row["totp_secret_encrypted"] is None
    assert (await client.get("/api/v1/user/me", headers=member.headers)).status_code == 401
    login = await users.login(member.username)
    assert login.status_code == 200
    assert (await client.get("/api/v1/user/me", headers=bearer(login.json()["access_token"]))).status_code == 200
    assert "administrator turned off" in smtp_server.last(member.email, "administrator").subject


async def test_admin_cannot_turn_mfa_on(client: httpx.AsyncClient, users: UserFactory, accounts: RoleFactory) -> None:
    admin = await accounts.create("admin")
    member = await users.sign_up()
    user_id = (await client.get("/api/v1/user/me", headers=member.headers)).json()["id"]
    for value in (True, None, "yes"):
        response = await client.patch(
            f"/api/v1/admin/users/{user_id}", headers=admin.headers, json={"mfa_enabled": value}
        )
        assert response.status_code == 422
    assert (await users.login(member.username)).status_code == 200


async def test_a_moderator_cannot_turn_mfa_off(
    client: httpx.AsyncClient, users: UserFactory, accounts: RoleFactory
) -> None:
    moderator = await accounts.create("moderator")
    member = await users.sign_up()
    await enrol(client, member)
    user_id = (await client.get("/api/v1/user/me", headers=member.headers)).json()["id"]
    response = await client.patch(
        f"/api/v1/admin/users/{user_id}", headers=moderator.headers, json={"mfa_enabled": False}
    )
    assert response.status_code == 403
    assert (await users.login(member.username)).status_code == 403
