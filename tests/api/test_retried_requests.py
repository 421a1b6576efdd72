"""A request run again after its transaction lost a race takes over what its first run committed
on purpose (the throttle's reservation): it counts once, and a success leaves no failure behind."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from lib.db import get_engine
from lib.models import Attempt
from tests.fixtures.conflicts import inserts_seen, next_insert_loses_a_race
from tests.fixtures.database import is_postgres
from tests.fixtures.mfa import LOGIN_MFA, enrol, mfa_token, totp_code
from tests.fixtures.users import UserFactory

pytestmark = pytest.mark.skipif(
    not is_postgres(), reason="SQLite runs writers one at a time: no transaction there loses a race"
)

NEW_PASSWORD = "an entirely new passphrase"


async def counted() -> list[str]:
    async with get_engine().connect() as connection:
        return sorted((await connection.execute(select(Attempt.key))).scalars())


async def test_a_sign_up_run_twice_counts_once(users: UserFactory) -> None:
    async with next_insert_loses_a_race("sessions"):
        await users.sign_up()
        assert await inserts_seen() == 2  # the first run lost, the second signed up
    assert await counted() == ["sign-up:ip:127.0.0.1"]


async def test_a_login_run_twice_leaves_no_failure_behind(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    before = await counted()
    async with next_insert_loses_a_race("sessions"):
        response = await users.login(user.username)
        assert response.status_code == 200, response.text
        assert await inserts_seen() == 2
    assert await counted() == before


async def test_an_mfa_sign_in_run_twice_leaves_no_failure_behind(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    enrolled = await enrol(client, user)
    token = await mfa_token(client, user.email)
    before = await counted()
    async with next_insert_loses_a_race("sessions"):
        response = await client.post(LOGIN_MFA, json={"mfa_token": token, "code": totp_code(enrolled.secret, 1)})
        assert response.status_code == 200, response.text
        assert await inserts_seen() == 2
    assert await counted() == before


async def test_a_password_change_run_twice_leaves_no_failure_behind(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.sign_up()
    before = await counted()
    async with next_insert_loses_a_race("sessions"):
        response = await client.post(
            "/api/v1/user/me/password",
            headers=user.headers,
            json={"current_password": user.password, "new_password": NEW_PASSWORD},
        )
        assert response.status_code == 200, response.text
        assert await inserts_seen() == 2
    assert await counted() == before
