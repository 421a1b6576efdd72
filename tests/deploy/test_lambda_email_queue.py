"""On Lambda, emails go through SQS: the functions answer without waiting for the mail server,
and the `mailer` function, fed the queue's events, sends them (moto's SQS, a real SMTP server)."""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlmodel import col

from api import forgot_password, login, mailer, reset_password, sign_up, verify_email
from lib.db import get_engine
from lib.email import queue as email_queue
from lib.models import EmailOutbox, User
from tests.fixtures.lambda_events import Request, decode_response, http_api_v2, invoke, sqs_event
from tests.fixtures.mail import free_port
from tests.fixtures.races import GENEROUS_LIMITS
from tests.fixtures.users import PASSWORD

SMTP_DELAY = 2.0  # seconds the mail server takes to accept each message
JSON = {"content-type": "application/json"}


@dataclass
class Queue:
    client: Any
    url: str
    arn: str

    def receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while batch := self.client.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages"):
            messages += batch
        return messages


@pytest.fixture
def slow_mailbox(settings_env: Callable[..., None]) -> Iterator[Any]:
    from tests.api.test_email_outbox import SlowMailbox

    mailbox = SlowMailbox(free_port(), delay=SMTP_DELAY)
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    settings_env(
        EMAIL_BACKEND="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(mailbox.port),
        SMTP_USE_TLS="false",
        SMTP_TIMEOUT="10",
    )
    try:
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch, settings_env: Callable[..., None]) -> Iterator[Queue]:
    import boto3
    from moto import mock_aws

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    email_queue._sqs_client.cache_clear()
    with mock_aws():
        client = boto3.client("sqs", region_name="eu-west-1")
        url = client.create_queue(QueueName="auth-service-test-EmailQueue")["QueueUrl"]
        arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        settings_env(**GENEROUS_LIMITS, AWS_REGION="eu-west-1", EMAIL_QUEUE_URL=url)
        yield Queue(client, url, arn)
    email_queue._sqs_client.cache_clear()


def call(handler: Any, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any, float]:
    """(status, JSON body, seconds the invocation took)."""
    event = http_api_v2(Request(method, path, headers=JSON, body=json.dumps(body).encode()))
    started = time.perf_counter()
    response = decode_response(invoke(handler, event))
    elapsed = time.perf_counter() - started
    return response.status, (response.json() if response.body else None), elapsed


def new_account(email: str) -> None:
    status, body, _ = call(
        sign_up.handler,
        "POST",
        "/api/v1/sign-up",
        {"email": email, "username": email.split("@")[0], "password": PASSWORD},
    )
    assert status == 201, body


async def outbox_ids(kind: str, email: str) -> list[uuid.UUID]:
    async with get_engine().connect() as connection:
        rows = await connection.execute(
            select(col(EmailOutbox.id)).join(User).where(col(EmailOutbox.kind) == kind, col(User.email) == email)
        )
        return list(rows.scalars())


def ids_in(messages: list[dict[str, Any]]) -> list[list[str]]:
    return [json.loads(message["Body"])["ids"] for message in messages]


async def test_the_functions_answer_without_smtp_and_the_mailer_sends_from_the_queue(
    client: httpx.AsyncClient, sqs: Queue, slow_mailbox: Any
) -> None:
    new_account("lambda@example.com")
    status, _, _ = call(
        login.handler, "POST", "/api/v1/login", {"username": "lambda@example.com", "password": PASSWORD}
    )
    assert status == 200
    known = call(forgot_password.handler, "POST", "/api/v1/forgot-password", {"email": "lambda@example.com"})
    unknown = call(forgot_password.handler, "POST", "/api/v1/forgot-password", {"email": "nobody@example.com"})
    assert known[:2] == unknown[:2]
    assert known[0] == 202

    assert slow_mailbox.messages == []  # no function touched the mail server
    messages = sqs.receive()
    verify_id, reset_id = (
        (await outbox_ids("verify_email", "lambda@example.com")),
        await outbox_ids("reset_password", "lambda@example.com"),
    )
    # sign-up's verification, the reset, and an empty message for the unknown address (same work)
    assert ids_in(messages) == [[str(verify_id[0])], [str(reset_id[0])], []]

    result = invoke(mailer.handler, sqs_event(messages, sqs.arn))

    assert result == {"batchItemFailures": []}
    assert [received.subject for received in slow_mailbox.to("lambda@example.com")] == [
        "Confirm your email address for Auth Service",
        "Reset your Auth Service password",
    ]
    assert slow_mailbox.to("nobody@example.com") == []
    token = slow_mailbox.last("lambda@example.com", "Confirm").token("verify-email")
    assert call(verify_email.handler, "POST", "/api/v1/verify-email", {"token": token})[0] == 204
    token = slow_mailbox.last("lambda@example.com", "Reset").token("reset-password")
    reset = call(
        reset_password.handler, "POST", "/api/v1/reset-password", {"token": token, "new_password": "new pw 12"}
    )
    assert reset[0] == 204
    # The same event again (SQS delivers at least once): nothing is sent twice.
    assert invoke(mailer.handler, sqs_event(messages, sqs.arn)) == {"batchItemFailures": []}
    assert len(slow_mailbox.to("lambda@example.com")) == 2
    # The reset queued its own notice, which waits on the queue for the mailer.
    assert ids_in(sqs.receive()) == [
        [str(row_id) for row_id in await outbox_ids("password_changed", "lambda@example.com")]
    ]


async def test_forgot_password_takes_as_long_for_a_known_and_an_unknown_address_on_lambda(
    sqs: Queue, slow_mailbox: Any
) -> None:
    """The mail server takes 2 s per message; neither answer waits for it, so neither is slower."""
    rounds = 8
    for n in range(rounds + 1):
        new_account(f"timed{n}@example.com")
    call(forgot_password.handler, "POST", "/api/v1/forgot-password", {"email": "timed0@example.com"})  # warm
    known: list[float] = []
    unknown: list[float] = []
    for n in range(1, rounds + 1):
        status, _, elapsed = call(
            forgot_password.handler, "POST", "/api/v1/forgot-password", {"email": f"timed{n}@example.com"}
        )
        assert status == 202
        known.append(elapsed)
        status, _, elapsed = call(
            forgot_password.handler, "POST", "/api/v1/forgot-password", {"email": f"none{n}@example.com"}
        )
        assert status == 202
        unknown.append(elapsed)

    ratio = statistics.median(known) / statistics.median(unknown)
    assert 0.5 < ratio < 2.0, (known, unknown)  # a 2 s SMTP round trip in the known answers would make it ~50
    assert slow_mailbox.messages == []
    assert len(sqs.receive()) == (rounds + 1) + 1 + rounds * 2  # sign-ups, the warm-up, known and unknown alike


async def test_the_mailer_reports_a_message_it_could_not_handle_for_sqs_to_retry(
    sqs: Queue, slow_mailbox: Any, settings_env: Callable[..., None]
) -> None:
    sqs.client.send_message(QueueUrl=sqs.url, MessageBody=json.dumps({"ids": [str(uuid.uuid4())]}))
    sqs.client.send_message(QueueUrl=sqs.url, MessageBody="not one of ours")
    retried, dropped = sqs.receive()
    settings_env(DATABASE_URL=f"postgresql://auth:x@127.0.0.1:{free_port()}/auth", DATABASE_CONNECT_TIMEOUT="2")

    result = invoke(mailer.handler, sqs_event([retried, dropped], sqs.arn))

    # Back to the queue (then its dead-letter queue); a message that is not ours is not retried.
    assert result == {"batchItemFailures": [{"itemIdentifier": retried["MessageId"]}]}


def test_the_mailer_takes_only_sqs_events() -> None:
    with pytest.raises(ValueError, match="only SQS events"):
        invoke(mailer.handler, http_api_v2(Request("POST", "/api/v1/forgot-password")))


async def test_when_the_queue_refuses_the_email_stays_for_the_schedule(
    client: httpx.AsyncClient, sqs: Queue, settings_env: Callable[..., None], smtp_server: Any
) -> None:
    new_account("stays@example.com")
    assert len(sqs.receive()) == 1
    settings_env(EMAIL_QUEUE_URL=sqs.url.replace("EmailQueue", "NoSuchQueue"))

    status, _, _ = call(forgot_password.handler, "POST", "/api/v1/forgot-password", {"email": "stays@example.com"})

    assert status == 202
    cleanup = await client.get("/api/v1/cron/cleanup", headers={"Authorization": "Bearer test-cron-secret"})
    assert cleanup.json()["emails"] == {"sent": 2, "failed": 0, "given_up": 0}  # the sign-up's too: never consumed
    assert smtp_server.last("stays@example.com", "Reset").token("reset-password")
