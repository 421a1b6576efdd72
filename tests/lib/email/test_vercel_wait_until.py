"""Under Vercel's runtime, the request's emails are handed to `vercel.functions.wait_until`: the
function answers, and the runtime keeps the invocation alive until they are sent. Driven by the
runtime's own collector (`vercel_runtime.wait_until`, what its ASGI wrapper runs per request)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiosmtpd.controller import Controller

from tests.api.test_email_outbox import SlowMailbox
from tests.fixtures.app import make_client
from tests.fixtures.mail import free_port


async def test_the_email_is_sent_in_wait_until_after_the_answer(settings_env: Callable[..., None]) -> None:
    from vercel_runtime.wait_until import begin_wait_until, finish_wait_until_async

    mailbox = SlowMailbox(free_port(), delay=1.0)
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    settings_env(EMAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=str(mailbox.port), SMTP_USE_TLS="false")
    collector = begin_wait_until()  # what the runtime does as an invocation starts
    try:
        async with make_client() as client:
            started = time.perf_counter()
            response = await client.post(
                "/api/v1/sign-up", json={"email": "vc@example.com", "username": "vc_user", "password": "a long pw 12"}
            )
            answered = time.perf_counter() - started
        assert response.status_code == 201
        assert answered < 1.0  # the in-process call did not wait for the 1 s server
        assert mailbox.messages == []  # handed to wait_until, not sent yet
    finally:
        await finish_wait_until_async(collector)  # what the runtime does after the response
        controller.stop()

    assert mailbox.last("vc@example.com").token("verify-email")


async def test_outside_vercels_runtime_the_process_sends_it_itself(settings_env: Callable[..., None]) -> None:
    mailbox = SlowMailbox(free_port(), delay=0.0)
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    settings_env(EMAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=str(mailbox.port), SMTP_USE_TLS="false")
    try:
        async with make_client() as client:
            response = await client.post(
                "/api/v1/sign-up",
                json={"email": "local@example.com", "username": "local_u", "password": "a long pw 12"},
            )
        assert response.status_code == 201
        await asyncio.sleep(0)
        assert mailbox.last("local@example.com").token("verify-email")  # sent before the in-process call returned
    finally:
        controller.stop()
