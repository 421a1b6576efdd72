"""Emails leave after the answer.

A service queues an email with the transaction that wrote what the email points at (a link
token, a changed password). The email is released when that transaction commits, dropped
when it rolls back (a failed or retried request sends nothing), and sent once the response
has gone out: how long a request takes then says nothing about whether an email was sent,
so forgot-password answers a known and an unknown address alike.

On a server that keeps running after the response (uvicorn, Vercel), the client has its answer
before the SMTP round trip; Mangum on Lambda returns only when the whole request is done, so
there the sending still precedes the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lib.email import Email, send_email

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

logger = logging.getLogger("auth.email")

AfterSending = Callable[[], Awaitable[None]]
_QUEUED = "queued_emails"


@dataclass(frozen=True)
class QueuedEmail:
    email: Email
    on_sent: AfterSending | None = None
    on_failed: AfterSending | None = None


# The emails released by this request's commits; set by the middleware for each request.
_released: ContextVar[list[QueuedEmail] | None] = ContextVar("released_emails", default=None)


@contextmanager
def collecting_emails() -> Iterator[list[QueuedEmail]]:
    """Collect what this request's commits release (the middleware sends it after the answer)."""
    released: list[QueuedEmail] = []
    token = _released.set(released)
    try:
        yield released
    finally:
        _released.reset(token)


def queue_email(
    session: AsyncSession,
    email: Email,
    *,
    on_sent: AfterSending | None = None,
    on_failed: AfterSending | None = None,
) -> None:
    """Send `email` after the answer, if the current transaction of `session` commits.
    `on_sent` or `on_failed` then runs (in a transaction of its own)."""
    session.info.setdefault(_QUEUED, []).append(QueuedEmail(email, on_sent, on_failed))


def release_emails(session: AsyncSession) -> None:
    """The transaction committed: its emails go out after the answer."""
    queued: list[QueuedEmail] = session.info.pop(_QUEUED, [])
    if not queued:
        return
    released = _released.get()
    if released is None:
        raise RuntimeError("emails were queued outside a request that collects them (lib.middleware)")
    released.extend(queued)


def drop_emails(session: AsyncSession) -> None:
    """The transaction rolled back: what its emails would point at does not exist."""
    session.info.pop(_QUEUED, None)


async def deliver(queued: list[QueuedEmail]) -> None:
    for item in queued:
        sent = await send_email(item.email)
        after = item.on_sent if sent else item.on_failed
        if after is None:
            continue
        try:
            await after()
        except Exception as exc:  # the answer is out; log and go on with the next email
            logger.warning("after sending %r: %s", item.email.template, type(exc).__name__)
