"""`scripts/outbox`: the operator's view of the pending and given-up emails, and sending them again."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable

from sqlalchemy import select
from sqlmodel import col

from lib.db import get_engine
from lib.models import EmailOutbox
from tests.fixtures.deployment import ROOT
from tests.fixtures.mail import Mailbox, free_port
from tests.fixtures.users import UserFactory


async def outbox(*args: str) -> str:
    process = await asyncio.to_thread(
        subprocess.run, [str(ROOT / "scripts" / "outbox"), *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert process.returncode == 0, process.stderr
    return process.stdout


async def test_lists_pending_and_given_up_emails_and_sends_them_again(
    users: UserFactory, smtp_server: Mailbox, settings_env: Callable[..., None]
) -> None:
    sent = await users.sign_up()
    settings_env(SMTP_PORT=str(free_port()), EMAIL_MAX_ATTEMPTS="1")
    given_up = await users.sign_up()  # its one attempt failed: given up
    settings_env(EMAIL_MAX_ATTEMPTS="8")
    pending = await users.sign_up()  # failed once, waiting for its retry

    listed = json.loads(await outbox("list", "--json"))
    assert [(row["address"], row["state"], row["attempts"]) for row in listed] == [
        (given_up.email, "given_up", 1),
        (pending.email, "pending", 1),
    ]
    assert "ConnectError" in listed[0]["last_error"]
    table = await outbox()
    assert table.splitlines()[0].split() == [
        "id",
        "state",
        "kind",
        "address",
        "attempts",
        "next_attempt_at",
        "created_at",
        "last_error",
    ]
    assert given_up.email in table
    assert sent.email not in table  # sent emails are not listed

    settings_env(SMTP_PORT=str(smtp_server.port))
    assert json.loads(await outbox("retry", "--given-up")) == {"retried": 1, "sent": 1, "failed": 0, "given_up": 0}
    assert smtp_server.last(given_up.email, "Confirm").token("verify-email")
    assert json.loads(await outbox("retry", listed[1]["id"])) == {"retried": 1, "sent": 1, "failed": 0, "given_up": 0}
    assert smtp_server.last(pending.email, "Confirm").token("verify-email")
    assert (await outbox()).strip() == "no pending or given-up email"
    async with get_engine().connect() as connection:
        states = (await connection.execute(select(col(EmailOutbox.state)))).scalars()
        assert sorted(states) == ["sent", "sent", "sent"]


async def test_retry_needs_ids_or_given_up() -> None:
    process = await asyncio.to_thread(
        subprocess.run,
        [str(ROOT / "scripts" / "outbox"), "retry"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 2
    assert "retry takes email ids or --given-up" in process.stderr
