"""A request that sends an email connects to the database once: the sending after the answer
claims and records the email on the request's own connection (under NullPool a second session
connects again: through PgBouncer a TCP connect and a SCRAM exchange, three round trips)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from sqlmodel import col

from lib.db import get_engine
from lib.models import EmailKind, EmailOutbox, EmailState
from scripts.benchmark.roundtrips import CountingProxy
from tests.fixtures.app import SettingsEnv, make_client
from tests.fixtures.database import is_postgres
from tests.fixtures.mail import Mailbox
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


async def counted(settings_env: SettingsEnv, requests: list[tuple[str, dict[str, str]]]) -> list[dict[str, int]]:
    """The connects and round trips of each request (the email it sends included) through a
    counting proxy in front of PgBouncer."""
    original = os.environ["DATABASE_URL"]
    target = urlsplit(original)
    proxy = CountingProxy(target.hostname or "127.0.0.1", target.port or 5432)
    port = await proxy.start()
    credentials = target.netloc.rpartition("@")[0]
    settings_env(DATABASE_URL=target._replace(netloc=f"{credentials}@127.0.0.1:{port}").geturl())
    counts = []
    try:
        async with make_client() as client:
            for path, body in requests:
                before = proxy.counts.snapshot()
                answer = await client.post(path, json=body)
                assert answer.status_code in {201, 202}, answer.text
                await asyncio.sleep(0.05)  # the closing connection's last bytes pass the proxy
                counts.append(proxy.counts.since(before))
    finally:
        assert proxy.server is not None
        proxy.server.close()
        settings_env(DATABASE_URL=original)  # past the proxy again
    return counts


async def test_a_sign_up_and_its_verification_email_connect_once(
    settings_env: SettingsEnv, smtp_server: Mailbox
) -> None:
    emails = [f"once-{uuid.uuid4().hex[:10]}@example.com" for _ in range(2)]
    requests = [
        ("/api/v1/sign-up", {"email": email, "username": email.split("@")[0].replace("-", "_"), "password": PASSWORD})
        for email in emails
    ]
    counts = await counted(settings_env, requests)
    assert all(smtp_server.to(email) for email in emails), "each sign-up's email was sent after its answer"
    assert [count["connections"] for count in counts] == [1, 1], counts
    assert await outbox_states(emails, EmailKind.VERIFY_EMAIL) == {EmailState.SENT.value: 2}


async def test_forgot_password_and_its_email_connect_once(
    settings_env: SettingsEnv, smtp_server: Mailbox, users: UserFactory
) -> None:
    members = [await users.sign_up() for _ in range(2)]
    counts = await counted(settings_env, [("/api/v1/forgot-password", {"email": m.email}) for m in members])
    assert all(smtp_server.last(m.email, "Reset") for m in members)
    assert [count["connections"] for count in counts] == [1, 1], counts
    assert await outbox_states([m.email for m in members], EmailKind.RESET_PASSWORD) == {EmailState.SENT.value: 2}
