"""Emails go through an outbox table, and leave after the answer.

A service queues an email by writing an `email_outbox` row in the transaction that writes
what the email is about (an account, a changed password): a rolled-back or retried request
leaves no row, a committed one leaves exactly its own. The row holds the intent (kind, user,
address, template data), never a secret: a link's token is minted when the email is sent
(`lib.email.sending`), so the table in a dump holds no usable link.

Once the request has answered, the rows its commits released are handed on (`dispatch`):

- with `EMAIL_QUEUE_URL` set (AWS Lambda, where Mangum returns only when the whole request is
  done), their ids go to that SQS queue and the `mailer` function sends them: no answer waits
  for SMTP or SES;
- under Vercel's runtime, the sending is handed to `vercel.functions.wait_until`, which keeps
  the function alive after its answer;
- anywhere else (the local server), the process sends them itself after the response.

The process that sends them itself does so on the request's own connection (`hand_over`).

A row that cannot be sent stays pending, and the scheduled clean-up retries it with backoff.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from lib.config import get_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from lib.models import EmailKind, User

logger = logging.getLogger("auth.email")

_QUEUED = "queued_emails"
_ALWAYS_PUBLISH = "always_publish_emails"


@dataclass
class Released:
    """What a request's commits released: outbox row ids, and whether the request hands
    something to the queue whatever it found (see `publish_in_any_case`)."""

    ids: list[uuid.UUID] = field(default_factory=list)
    publish: bool = False
    session: AsyncSession | None = None  # the request's own, handed over to send them (`hand_over`)


# The emails released by this request's commits; set by the middleware for each request.
_released: ContextVar[Released | None] = ContextVar("released_emails", default=None)


@contextmanager
def collecting_emails() -> Iterator[Released]:
    """Collect what this request's commits release (the middleware dispatches it after the answer)."""
    released = Released()
    token = _released.set(released)
    try:
        yield released
    finally:
        _released.reset(token)


def queue_email(
    session: AsyncSession,
    *,
    kind: EmailKind,
    user: User,
    subject: str,
    data: dict[str, Any] | None = None,
    link_lifetime: timedelta | None = None,
) -> None:
    """Email `user` after the answer, if the current transaction of `session` commits.

    `data` is the template's (no secret, and nothing the user typed: the greeting's name is
    added at sending, and only for a verified address). A link email gives `link_lifetime`:
    its link, minted at sending, expires that long after this request, and is not sent later.
    """
    from lib.models import EmailOutbox, utcnow

    now = utcnow()
    row = EmailOutbox(
        kind=kind.value,
        user_id=user.id,
        address=user.email,
        data={"subject": subject, **(data or {})},
        link_expires_at=now + link_lifetime if link_lifetime is not None else None,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    session.info.setdefault(_QUEUED, []).append(row.id)


def queue_security_notice(session: AsyncSession, *, kind: EmailKind, user: User, subject: str, change: str) -> None:
    """Tell the owner what changed and when, in case it was not them; sent if the change commits.
    A notice carries no text that whoever holds the session chose (`lib.email.sending` adds no name)."""
    from lib.models import utcnow

    data = {"change": change, "changed_at": utcnow().strftime("%d %B %Y at %H:%M UTC").lstrip("0")}
    queue_email(session, kind=kind, user=user, subject=subject, data=data)


def publish_in_any_case(session: AsyncSession) -> None:
    """Where emails go through a queue, hand the queue a message after this transaction commits
    even when it queued no email: a request that may or may not email someone (forgot-password
    for a known or an unknown address) then takes the same time either way."""
    session.info[_ALWAYS_PUBLISH] = True


def release_emails(session: AsyncSession) -> None:
    """The transaction committed: its emails go out after the answer."""
    ids: list[uuid.UUID] = session.info.pop(_QUEUED, [])
    publish = bool(session.info.pop(_ALWAYS_PUBLISH, False))
    if not ids and not publish:
        return
    released = _released.get()
    if released is None:
        raise RuntimeError("emails were queued outside a request that collects them (lib.middleware)")
    released.ids.extend(ids)
    released.publish = released.publish or publish


def hand_over(session: AsyncSession) -> bool:
    """The request is done with `session`: keep it (and its connection, idle between transactions)
    for sending this request's emails after the answer, when this process sends them, so that
    they do not connect again. True when it was kept (`dispatch` closes it), False when the
    caller closes it: no emails, a queue sends them, or an earlier run of the request kept one."""
    released = _released.get()
    if released is None or not released.ids or released.session is not None or get_settings().EMAIL_QUEUE_URL:
        return False
    released.session = session
    return True


def drop_emails(session: AsyncSession) -> None:
    """The transaction rolled back: its rows are gone, and there is nothing to send."""
    session.info.pop(_QUEUED, None)
    session.info.pop(_ALWAYS_PUBLISH, None)


async def dispatch(released: Released) -> None:
    """Hand the released emails to what sends them on this platform (see the module's doc).

    Never raises: the answer is out, and a row that is not sent now stays pending for the
    scheduled retry.
    """
    handed_over, released.session = released.session, None
    try:
        if not released.ids and not released.publish:
            return
        if get_settings().EMAIL_QUEUE_URL:
            from lib.email.queue import publish

            await publish(released.ids)
            return
        if not released.ids:
            return
        from lib.email.sending import send_rows

        keep_alive = _vercel_wait_until()
        sending, handed_over = send_rows(released.ids, session=handed_over), None  # send_rows closes it
        if keep_alive is not None:
            keep_alive(sending)
            return
        await sending
    except Exception as exc:  # left pending: the scheduled clean-up sends it
        logger.warning("emails %s left for the retry: %s", [str(i) for i in released.ids], type(exc).__name__)
    finally:
        if handed_over is not None:
            await handed_over.close()


def _vercel_wait_until() -> Callable[[Awaitable[Any]], None] | None:
    """`vercel.functions.wait_until` when this invocation is served by Vercel's runtime (which
    gives it the invocation to keep alive), else None."""
    if "vercel_runtime" not in sys.modules:
        return None
    try:
        from vercel.cache.context import get_context
        from vercel.functions import wait_until
    except ImportError:
        return None
    return wait_until if get_context().wait_until is not None else None
