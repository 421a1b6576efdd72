"""A request that sends an email connects to the database once: the sending after the answer
claims and records the email on the request's own connection (under NullPool a second session
connects again: through PgBouncer a TCP connect and a SCRAM exchange, three round trips)."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from sqlalchemy import select
from sqlmodel import col

from lib.db import get_engine
from lib.models import EmailKind, EmailOutbox, EmailState
from tests.fixtures.app import SettingsEnv
from tests.fixtures.database import is_postgres
from tests.fixtures.mail import Mailbox
from tests.fixtures.roundtrips import Send, count_round_trips
from tests.fixtures.users import PASSWORD, UserFactory

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(not is_postgres(), reason="connections to PgBouncer"),
]


async def outbox_states(addresses: list[str], kind: EmailKind) -> Counter[str]:
    async with get_engine().connect() as connection:
        rows = await connection.execute(
            select(col(EmailOutbox.state)).where(col(EmailOutbox.address).in_(addresses), col(EmailOutbox.kind) == kind)
        )
        return Counter(str(state) for (state,) in rows)


def sign_up(email: str) -> Send:
    body = {"email": email, "username": email.split("@")[0].replace("-", "_"), "password": PASSWORD}
    return lambda client: client.post("/api/v1/sign-up", json=body)


def forgot_password(email: str) -> Send:
    return lambda client: client.post("/api/v1/forgot-password", json={"email": email})


async def test_a_sign_up_and_its_verification_email_connect_once(
    settings_env: SettingsEnv, smtp_server: Mailbox
) -> None:
    emails = [f"once-{uuid.uuid4().hex[:10]}@example.com" for _ in range(2)]
    counts = await count_round_trips(settings_env, [sign_up(email) for email in emails])
    assert all(smtp_server.to(email) for email in emails), "each sign-up's email was sent after its answer"
    assert [count["connections"] for count in counts] == [1, 1], counts
    assert await outbox_states(emails, EmailKind.VERIFY_EMAIL) == {EmailState.SENT.value: 2}


async def test_forgot_password_and_its_email_connect_once(
    settings_env: SettingsEnv, smtp_server: Mailbox, users: UserFactory
) -> None:
    members = [await users.sign_up() for _ in range(2)]
    counts = await count_round_trips(settings_env, [forgot_password(m.email) for m in members])
    assert all(smtp_server.last(m.email, "Reset") for m in members)
    assert [count["connections"] for count in counts] == [1, 1], counts
    assert await outbox_states([m.email for m in members], EmailKind.RESET_PASSWORD) == {EmailState.SENT.value: 2}
