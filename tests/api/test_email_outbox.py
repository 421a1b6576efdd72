"""Emails go through the outbox: none is lost when SMTP is down, none is sent twice, a rolled-back
or retried request leaves exactly its own, and the table holds no usable link."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import APIRouter
from sqlalchemy import func, select, text, update
from sqlmodel import col

from lib.app import create_app
from lib.db import get_engine
from lib.deps import Session as DbSession
from lib.email.outbox import queue_email
from lib.email.sending import drain_due, retry_delay
from lib.errors import EmailTokenInvalid
from lib.models import EmailKind, EmailOutbox, User, utcnow
from lib.security.digest import token_digest
from tests.fixtures.app import make_client
from tests.fixtures.database import is_postgres
from tests.fixtures.mail import Mailbox, free_port
from tests.fixtures.races import GENEROUS_LIMITS
from tests.fixtures.users import UserFactory

CRON = {"Authorization": "Bearer test-cron-secret"}


async def cron(client: httpx.AsyncClient) -> dict[str, int]:
    response = await client.get("/api/v1/cron/cleanup", headers=CRON)
    assert response.status_code == 200, response.text
    emails: dict[str, int] = response.json()["emails"]
    return emails


async def outbox_states() -> Counter[str]:
    async with get_engine().connect() as connection:
        return Counter((await connection.execute(select(col(EmailOutbox.state)))).scalars())


async def outbox_count() -> int:
    async with get_engine().connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(EmailOutbox))).scalar_one())


def smtp_down(settings_env: Callable[..., None]) -> None:
    settings_env(SMTP_PORT=str(free_port()))  # nothing listens there


async def test_smtp_down_during_sign_ups_and_resets_then_one_drain_delivers_each_email_once(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox, settings_env: Callable[..., None]
) -> None:
    """30 sign-ups and 20 forgot-passwords while the mail server is down: every answer is as usual,
    nothing is lost, and once it is back one drain delivers each email once, each link working."""
    settings_env(**GENEROUS_LIMITS, EMAIL_RETRY_BASE_SECONDS="1")
    smtp_down(settings_env)
    signed_up = [await users.sign_up() for _ in range(30)]
    resetting = signed_up[:20]
    for user in resetting:
        response = await client.post("/api/v1/forgot-password", json={"email": user.email})
        assert response.status_code == 202
    requested = 30 + 20
    assert smtp_server.messages == []
    assert await outbox_states() == {"pending": requested}  # each tried once after its answer, and kept

    settings_env(SMTP_PORT=str(smtp_server.port))
    await asyncio.sleep(1.2)  # the first retry is due EMAIL_RETRY_BASE_SECONDS after the failure
    assert await cron(client) == {"sent": requested, "failed": 0, "given_up": 0}
    assert await cron(client) == {"sent": 0, "failed": 0, "given_up": 0}  # nothing is sent twice

    delivered = Counter((tuple(received.recipients), received.subject) for received in smtp_server.messages)
    assert len(smtp_server.messages) == requested
    assert set(delivered.values()) == {1}  # no duplicate
    for user in signed_up:
        token = smtp_server.last(user.email, "Confirm").token("verify-email")
        assert (await client.post("/api/v1/verify-email", json={"token": token})).status_code == 204
    for user in resetting:
        token = smtp_server.last(user.email, "Reset").token("reset-password")
        reset = await client.post("/api/v1/reset-password", json={"token": token, "new_password": "back in business"})
        assert reset.status_code == 204
    assert await outbox_states() == {"sent": requested + 20}  # and the 20 password-changed notices


class SlowMailbox(Mailbox):
    """An SMTP server that takes `delay` seconds to accept each message."""

    def __init__(self, port: int, delay: float) -> None:
        super().__init__(port)
        self.delay = delay

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.skipif(not is_postgres(), reason="SQLite runs one writer at a time: there is no parallel claim")
async def test_two_drains_in_parallel_send_each_row_once(users: UserFactory, settings_env: Callable[..., None]) -> None:
    settings_env(**GENEROUS_LIMITS, EMAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_USE_TLS="false")
    smtp_down(settings_env)
    signed_up = [await users.sign_up() for _ in range(24)]
    async with get_engine().begin() as connection:  # their first retry is due
        await connection.execute(update(EmailOutbox).values(next_attempt_at=utcnow()))
    mailbox = SlowMailbox(free_port(), delay=0.05)
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        settings_env(SMTP_PORT=str(mailbox.port))
        first, second = await asyncio.gather(drain_due(senders=4), drain_due(senders=4))
    finally:
        controller.stop()

    assert first.sent + second.sent == 24
    assert first.sent > 0
    assert second.sent > 0  # both drains took part
    assert Counter(address for received in mailbox.messages for address in received.recipients) == {
        user.email: 1 for user in signed_up
    }


def queuing_app(attempts: list[str], both_read: asyncio.Barrier, *, fail: bool = False) -> httpx.AsyncClient:
    """Each request queues an email naming its attempt, then reads and writes a user's row in a
    REPEATABLE READ transaction after the other request has read it: PostgreSQL aborts one of
    the two with a serialization failure, and the retry middleware runs it again."""
    router = APIRouter()

    @router.post("/race/{user_id}/{name}")
    async def race(session: DbSession, user_id: uuid.UUID, name: str) -> dict[str, str]:
        attempt = f"{name}#{sum(1 for a in attempts if a.startswith(name)) + 1}"
        attempts.append(attempt)
        if is_postgres():
            await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        user = (await session.execute(select(User).where(col(User.id) == user_id))).scalar_one()
        queue_email(session, kind=EmailKind.PASSWORD_CHANGED, user=user, subject="race", data={"changed_at": attempt})
        if len(attempts) <= 2:
            await both_read.wait()
        await session.execute(update(User).where(col(User.id) == user_id).values(last_name=attempt))
        if fail:
            raise EmailTokenInvalid()  # fails after writing its row
        return {"written": attempt}

    return make_client(create_app(router))


async def user_id_of(email: str) -> uuid.UUID:
    async with get_engine().connect() as connection:
        return (await connection.execute(select(col(User.id)).where(col(User.email) == email))).scalar_one()


@pytest.mark.skipif(not is_postgres(), reason="SQLite runs writers one at a time: no transaction there loses a race")
async def test_a_request_retried_after_a_conflict_sends_one_email_the_retrys(
    users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()
    user_id = await user_id_of(user.email)
    sign_up_emails = len(smtp_server.messages)
    attempts: list[str] = []
    async with queuing_app(attempts, asyncio.Barrier(2)) as client:
        first, second = await asyncio.gather(
            client.post(f"/race/{user_id}/first"), client.post(f"/race/{user_id}/second")
        )

    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    assert len(attempts) == 3  # the loser ran again, once
    (retry,) = [attempt for attempt in attempts if attempt.endswith("#2")]
    loser_first_try = retry.replace("#2", "#1")
    winner = next(attempt for attempt in attempts if attempt.endswith("#1") and attempt != loser_first_try)
    async with get_engine().connect() as connection:
        data = (
            await connection.execute(select(col(EmailOutbox.data)).where(col(EmailOutbox.kind) == "password_changed"))
        ).scalars()
        assert sorted(item["changed_at"] for item in data) == sorted([winner, retry])  # one row per request
    sent = smtp_server.messages[sign_up_emails:]
    assert len(sent) == 2
    texts = "\n".join(received.text for received in sent)
    assert f"on {retry}," in texts
    assert f"on {winner}," in texts
    assert f"on {loser_first_try}," not in texts  # the rolled-back attempt sent nothing


async def test_a_request_that_fails_after_writing_its_email_leaves_none(
    users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()
    user_id = await user_id_of(user.email)
    before = await outbox_count()
    sent_before = len(smtp_server.messages)
    attempts: list[str] = []
    barrier = asyncio.Barrier(1)
    async with queuing_app(attempts, barrier, fail=True) as client:
        response = await client.post(f"/race/{user_id}/only")

    assert response.status_code == 400
    assert await outbox_count() == before
    assert len(smtp_server.messages) == sent_before


async def test_a_failed_email_backs_off_then_is_given_up_logged_and_kept(
    client: httpx.AsyncClient,
    users: UserFactory,
    smtp_server: Mailbox,
    settings_env: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert [retry_delay(n).total_seconds() for n in range(1, 6)] == [60, 300, 1500, 7500, 37500]
    settings_env(EMAIL_MAX_ATTEMPTS="3")
    smtp_down(settings_env)
    user = await users.sign_up()  # attempt 1, after the answer
    async with get_engine().connect() as connection:
        row = (await connection.execute(select(EmailOutbox))).one()
    assert (row.state, row.attempts) == ("pending", 1)
    assert 55 <= (row.next_attempt_at - utcnow()).total_seconds() <= 60

    assert await cron(client) == {"sent": 0, "failed": 0, "given_up": 0}  # not due yet
    async with get_engine().begin() as connection:
        await connection.execute(update(EmailOutbox).values(next_attempt_at=utcnow()))
    assert await cron(client) == {"sent": 0, "failed": 1, "given_up": 0}  # attempt 2
    async with get_engine().connect() as connection:
        row = (await connection.execute(select(EmailOutbox))).one()
    assert row.attempts == 2
    assert 295 <= (row.next_attempt_at - utcnow()).total_seconds() <= 300  # five times longer

    async with get_engine().begin() as connection:
        await connection.execute(update(EmailOutbox).values(next_attempt_at=utcnow()))
    with caplog.at_level(logging.ERROR, logger="auth.email"):
        assert await cron(client) == {"sent": 0, "failed": 0, "given_up": 1}  # attempt 3 of 3
    given_up = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(given_up) == 1
    assert "given up after 3 attempts" in given_up[0].getMessage()
    assert "token=" not in caplog.text
    assert await outbox_states() == {"given_up": 1}  # kept for the operator

    settings_env(SMTP_PORT=str(smtp_server.port))
    async with get_engine().begin() as connection:
        await connection.execute(update(EmailOutbox).values(next_attempt_at=utcnow()))
    assert await cron(client) == {"sent": 0, "failed": 0, "given_up": 0}  # never retried on its own
    assert smtp_server.to(user.email) == []


async def test_a_reset_email_whose_link_would_have_expired_is_not_sent_late(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox, settings_env: Callable[..., None]
) -> None:
    smtp_down(settings_env)
    user = await users.sign_up()
    assert (await client.post("/api/v1/forgot-password", json={"email": user.email})).status_code == 202
    hour_and_more = timedelta(minutes=61)  # RESET_TOKEN_EXPIRE_MINUTES is 60
    async with get_engine().begin() as connection:  # as if the mail server had been down that long
        rows = (await connection.execute(select(EmailOutbox))).all()
        for row in rows:
            expires = row.link_expires_at - hour_and_more if row.link_expires_at else None
            await connection.execute(
                update(EmailOutbox)
                .where(col(EmailOutbox.id) == row.id)
                .values(created_at=row.created_at - hour_and_more, link_expires_at=expires, next_attempt_at=utcnow())
            )
    settings_env(SMTP_PORT=str(smtp_server.port))

    assert await cron(client) == {"sent": 1, "failed": 0, "given_up": 0}  # the verification: 48 hours

    assert [received.subject for received in smtp_server.to(user.email)] == [
        "Confirm your email address for Auth Service"
    ]
    assert await outbox_states() == {"sent": 1, "skipped": 1}


async def test_the_outbox_in_a_dump_holds_no_mailed_link(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox, settings_env: Callable[..., None]
) -> None:
    """Every link that was mailed (verification, reset, resent) is searched for, token and digest,
    in every column of every outbox row, sent, failed and pending alike."""
    settings_env(EMAIL_THROTTLE_SECONDS="0")
    accounts = [await users.sign_up() for _ in range(3)]
    for user in accounts:
        assert (await client.post("/api/v1/forgot-password", json={"email": user.email})).status_code == 202
        resend = await client.post("/api/v1/verify-email/resend", headers=user.headers)
        assert resend.status_code == 202
    smtp_down(settings_env)
    assert (await client.post("/api/v1/forgot-password", json={"email": accounts[0].email})).status_code == 202
    settings_env(SMTP_PORT=str(smtp_server.port))
    async with get_engine().begin() as connection:
        await connection.execute(update(EmailOutbox).values(next_attempt_at=utcnow()))
    assert (await cron(client))["sent"] == 1

    tokens = [
        received.token(page)
        for received in smtp_server.messages
        for page in ("verify-email", "reset-password")
        if f"/{page}?token=" in received.text
    ]
    assert len(tokens) == 3 * 3 + 1
    async with get_engine().connect() as connection:
        if is_postgres():
            dump = (await connection.execute(text("SELECT string_agg(e::text, E'\\n') FROM email_outbox e"))).scalar()
        else:
            rows = (await connection.execute(text("SELECT * FROM email_outbox"))).all()
            dump = "\n".join(repr(tuple(row)) for row in rows)
    assert dump
    assert dump.count("\n") == await outbox_count() - 1
    assert "token=" not in dump
    for token in tokens:
        assert token not in dump
        assert token_digest(token) not in dump
