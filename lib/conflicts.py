"""Running a request again when its transaction lost a race on PostgreSQL.

A deadlock or a serialization failure aborts one of the transactions involved; nothing
it wrote is kept, so the request can simply run again. After a few tries it answers
503 with `Retry-After`, never a 500.
"""

from __future__ import annotations

import logging
import random

import anyio
from sqlalchemy import exc as sa_exc
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lib.errors import TransactionRetriesExhausted
from lib.log import log_event

ATTEMPTS = 4
# PostgreSQL's deadlock_detected and serialization_failure: the transaction lost a race and
# may simply run again.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def is_retryable_conflict(exc: BaseException) -> bool:
    if not isinstance(exc, sa_exc.DBAPIError) or exc.orig is None:
        return False
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


class TransactionConflict(Exception):
    """Raised by the error handler for a deadlock or serialization failure, for the retry below."""


class RetryOnConflictMiddleware:
    def __init__(self, app: ASGIApp, attempts: int = ATTEMPTS) -> None:
        self.app = app
        self.attempts = attempts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = await _read_request(receive)
        for attempt in range(1, self.attempts + 1):
            started = False
            receive_again = _replaying(request, receive)

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
        busy = TransactionRetriesExhausted()
        response = JSONResponse({"detail": busy.message, "code": busy.code}, status_code=503, headers=busy.headers)
        await response(scope, receive, send)


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
