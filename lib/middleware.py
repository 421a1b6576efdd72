"""The ASGI middleware every function's app is built with (see `lib.app.install_middleware`)."""

from __future__ import annotations

import logging
import random

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lib.db_faults import TransactionConflict
from lib.email.outbox import collecting_emails, dispatch
from lib.errors import PayloadTooLarge, TransactionRetriesExhausted
from lib.log import log_event
from lib.request_runs import RequestRuns, request_runs
from lib.responses import auth_error_response


class HTTPMiddleware:
    """Passes anything but HTTP (lifespan) straight through to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class NoStoreMiddleware(HTTPMiddleware):
    """`Cache-Control: no-store` on every response that did not choose its own caching."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                    if b"pragma" not in names:
                        headers.append((b"pragma", b"no-cache"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware(HTTPMiddleware):
    """Refuse request bodies over `limit` bytes with 413, before any of them is parsed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        super().__init__(app)
        self.limit = limit

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._reject(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = auth_error_response(PayloadTooLarge(f"Request body larger than {self.limit} bytes"))
        await response(scope, receive, send)


class RetryOnConflictMiddleware(HTTPMiddleware):
    """Runs a request again when its transaction lost a race on PostgreSQL (see `lib.db`):
    nothing its transaction wrote was kept, so it can simply run again, and what it had committed
    early on purpose (a throttle reservation) the next run takes over (`lib.request_runs`).
    After a few tries, 503."""

    def __init__(self, app: ASGIApp, attempts: int = 4) -> None:
        super().__init__(app)
        self.attempts = attempts

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        with request_runs() as runs:
            await self.run(scope, receive, send, runs)

    async def run(self, scope: Scope, receive: Receive, send: Send, runs: RequestRuns) -> None:
        request = await _read_request(receive)
        for attempt in range(1, self.attempts + 1):
            started = False
            receive_again = _replaying(request, receive)
            runs.start_run()

            async def tracking_send(message: Message) -> None:
                nonlocal started
                started = started or message["type"] == "http.response.start"
                await send(message)

            try:
                await self.app(scope, receive_again, tracking_send)
                return
            except TransactionConflict:
                if started:
                    raise
                log_event("transaction_conflict", level=logging.WARNING, attempt=attempt, path=scope.get("path"))
                if attempt < self.attempts:
                    await anyio.sleep(random.uniform(0.01, 0.05) * 2**attempt)
        await auth_error_response(TransactionRetriesExhausted())(scope, receive, send)


def _replaying(request: list[Message], receive: Receive) -> Receive:
    """A `receive` that hands out the kept request messages again, then waits on the real one."""
    replay = iter(request)

    async def receive_again() -> Message:
        return next(replay, None) or await receive()

    return receive_again


async def _read_request(receive: Receive) -> list[Message]:
    """The request's body messages, kept so that each attempt reads them again."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


class EmailOutboxMiddleware(HTTPMiddleware):
    """Collects the outbox rows a request's commits release, and hands them on once the response
    is sent (see `lib.email.outbox.dispatch`), even when the app failed after they were committed."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        with collecting_emails() as released:
            try:
                await self.app(scope, receive, send)
            finally:
                await dispatch(released)
