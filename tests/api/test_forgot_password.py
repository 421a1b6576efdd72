from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select, update

from api._local import create_local_app
from lib.db import get_engine
from lib.models import EmailOutbox, EmailToken, User, utcnow
from tests.fixtures.email_links import age_email_tokens
from tests.fixtures.live import serve
from tests.fixtures.mail import Mailbox, free_port
from tests.fixtures.users import UserFactory

ACCEPTED = {"detail": "If an account uses this address, a link to reset its password has been sent to it."}


async def forgot(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/api/v1/forgot-password", json={"email": email})


async def email_token_count() -> int:
    async with get_engine().connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(EmailToken))).scalar_one())


async def test_known_unknown_and_inactive_addresses_get_identical_answers(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    known = await users.sign_up()
    inactive = await users.sign_up()
    async with get_engine().begin() as connection:
        await connection.execute(update(User).where(User.email == inactive.email).values(is_active=False))  # type: ignore[arg-type]

    answers = [await forgot(client, email) for email in (known.email, "nobody@example.com", inactive.email)]

    assert {response.status_code for response in answers} == {202}
    assert all(response.json() == ACCEPTED for response in answers)
    # every header alike but the per-request id
    headers = [{k: v for k, v in response.headers.items() if k != "x-request-id"} for response in answers]
    assert headers[0] == headers[1] == headers[2]
    assert len(smtp_server.to(known.email)) == 2  # the sign-up verification, then the reset link
    smtp_server.last(known.email, "Reset").token("reset-password")
    assert smtp_server.to("nobody@example.com") == []
    assert [received.subject for received in smtp_server.to(inactive.email)] == [
        "Confirm your email address for Auth Service"
    ]


async def test_forgot_password_matches_the_address_in_any_letter_case(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up(email="Mixed.Case@Example.com")

    assert (await forgot(client, "MIXED.case@EXAMPLE.COM")).status_code == 202

    assert smtp_server.last("mixed.case@example.com", "Reset").recipients == ["mixed.case@example.com"]
    assert user.email == "mixed.case@example.com"


async def test_forgot_password_throttle_holds_per_address(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()
    other = await users.sign_up()

    answers = [await forgot(client, user.email) for _ in range(3)]
    other_answer = await forgot(client, other.email)

    assert [response.status_code for response in answers] == [202, 202, 202]
    assert all(response.json() == ACCEPTED for response in answers)
    assert len(smtp_server.to(user.email)) == 2  # verification + one reset link
    assert other_answer.status_code == 202
    assert len(smtp_server.to(other.email)) == 2

    await age_email_tokens(61)
    assert (await forgot(client, user.email)).status_code == 202
    assert len(smtp_server.to(user.email)) == 3


async def test_a_new_reset_link_retires_the_previous_one(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()
    await forgot(client, user.email)
    first = smtp_server.last(user.email, "Reset").token("reset-password")
    await age_email_tokens(61)
    await forgot(client, user.email)
    second = smtp_server.last(user.email, "Reset").token("reset-password")
    assert first != second

    stale = await client.post("/api/v1/reset-password", json={"token": first, "new_password": "fresh password 1"})
    fresh = await client.post("/api/v1/reset-password", json={"token": second, "new_password": "fresh password 2"})

    assert stale.status_code == 400
    assert stale.json()["code"] == "token_used"
    assert fresh.status_code == 204


@pytest.mark.parametrize("email", ["not-an-address", "", "a@b", "x" * 320 + "@example.com"])
async def test_forgot_password_rejects_what_is_not_an_address(client: httpx.AsyncClient, email: str) -> None:
    response = await client.post("/api/v1/forgot-password", json={"email": email})

    assert response.status_code == 422


async def test_smtp_down_forgot_password_still_202_and_the_retry_sends_the_link(
    client: httpx.AsyncClient,
    users: UserFactory,
    smtp_server: Mailbox,
    settings_env: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = await users.sign_up()
    settings_env(SMTP_PORT=str(free_port()))  # nothing listens there

    with caplog.at_level(logging.WARNING, logger="auth.email"):
        down = await forgot(client, user.email)
        unknown = await forgot(client, "nobody@example.com")

    assert down.status_code == unknown.status_code == 202
    assert down.json() == unknown.json() == ACCEPTED
    failures = [record for record in caplog.records if record.name == "auth.email"]
    assert len(failures) == 1
    assert "reset_password" in failures[0].getMessage()
    assert "token=" not in caplog.text
    assert await email_token_count() == 1  # only the sign-up's verification token: the unsent link was discarded
    async with get_engine().connect() as connection:
        row = (await connection.execute(select(EmailOutbox).where(EmailOutbox.kind == "reset_password"))).one()  # type: ignore[arg-type]
    assert (row.state, row.attempts) == ("pending", 1)
    assert 50 <= (row.next_attempt_at - utcnow()).total_seconds() <= 60  # EMAIL_RETRY_BASE_SECONDS later

    # A failed email does not hold the user back: they may ask again, and only the newer link goes out.
    assert (await forgot(client, user.email)).status_code == 202
    settings_env(SMTP_PORT=str(smtp_server.port))
    async with get_engine().begin() as connection:
        await connection.execute(update(EmailOutbox).values(next_attempt_at=utcnow()))  # the minute has passed
    cleanup = await client.get("/api/v1/cron/cleanup", headers={"Authorization": "Bearer test-cron-secret"})
    assert cleanup.json()["emails"] == {"sent": 1, "failed": 0, "given_up": 0}
    async with get_engine().connect() as connection:
        states = (await connection.execute(select(EmailOutbox.state).order_by(EmailOutbox.created_at))).scalars()  # type: ignore[arg-type]
        assert list(states) == ["sent", "skipped", "sent"]  # the verification, the replaced link, the newer one
    (received,) = [received for received in smtp_server.to(user.email) if "Reset" in received.subject]
    token = received.token("reset-password")
    reset = await client.post("/api/v1/reset-password", json={"token": token, "new_password": "after the outage"})
    assert reset.status_code == 204


async def test_concurrent_requests_for_one_address_send_one_email(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    user = await users.sign_up()

    answers = await asyncio.gather(*(forgot(client, user.email) for _ in range(5)))

    assert [response.status_code for response in answers] == [202] * 5
    assert len([received for received in smtp_server.to(user.email) if "Reset" in received.subject]) == 1


class SlowMailbox(Mailbox):
    """An SMTP server that takes `delay` seconds to accept each message, as a distant one may."""

    def __init__(self, port: int, delay: float) -> None:
        super().__init__(port)
        self.delay = delay

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


async def test_the_answer_does_not_wait_for_the_email(users: UserFactory, settings_env: Callable[..., None]) -> None:
    """The answer leaves before the SMTP round trip, so its timing cannot tell who has an account."""
    mailbox = SlowMailbox(free_port(), delay=1.5)
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        known = await users.sign_up()  # ASGI in-process: sign-up's own email is sent before this returns
        settings_env(
            EMAIL_BACKEND="smtp",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(mailbox.port),
            SMTP_USE_TLS="false",
            SMTP_START_TLS="false",
        )
        with serve(create_local_app()) as api:
            async with httpx.AsyncClient(base_url=api, timeout=10) as http:
                timings = {}
                for email in ("nobody@example.com", known.email):
                    started = time.perf_counter()
                    response = await http.post("/api/v1/forgot-password", json={"email": email})
                    timings[email] = time.perf_counter() - started
                    assert response.status_code == 202
                assert timings[known.email] < 1.0, timings  # not the 1.5 s the server takes
                deadline = time.monotonic() + 10
                while not mailbox.to(known.email) and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
        assert mailbox.last(known.email, "Reset").token("reset-password")
    finally:
        controller.stop()
