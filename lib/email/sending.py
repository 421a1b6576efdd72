"""Sending what the outbox holds: claim a due row, mint its link, send it, record the outcome.

Each row is claimed in a short transaction of its own (`FOR UPDATE SKIP LOCKED` on PostgreSQL;
SQLite runs one writer at a time anyway) that moves its next attempt past a lease and counts the
attempt, so parallel senders (the request's process, the mailer, the scheduled clean-up, two
drains at once) never take the same row; the email is sent outside any transaction, then the
outcome is recorded. A sender that dies between sending and recording leaves the row to be sent
again once its lease is over: delivery is at least once.

A failed email is tried again `EMAIL_RETRY_BASE_SECONDS` later, then five times longer after each
next failure; after `EMAIL_MAX_ATTEMPTS` it is given up (logged as an error, and kept). A link
email is not sent once its link would have expired, nor when a newer link of the same kind
replaced it; the token is minted only when the email goes out, and discarded if it did not.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.accounts.links import describe_duration, email_link, issue_email_token, retire_email_tokens
from lib.config import get_settings
from lib.db import request_session
from lib.email import Email, redact
from lib.email.queue import read_message_body
from lib.models import EmailKind, EmailOutbox, EmailState, EmailToken, EmailTokenPurpose, User, utcnow
from lib.users.rows import lock_user

logger = logging.getLogger("auth.email")

LINK_PAGES = {EmailKind.VERIFY_EMAIL: "verify-email", EmailKind.RESET_PASSWORD: "reset-password"}
# A link that would work for less than this (or half its lifetime, if that is shorter) is not worth sending.
MIN_LINK_LIFETIME = timedelta(minutes=1)
LIVE_STATES = (EmailState.PENDING.value, EmailState.SENT.value)


@dataclass
class EmailCounts:
    sent: int = 0
    failed: int = 0  # failed this time, to be retried
    given_up: int = 0

    def add(self, other: EmailCounts) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.given_up += other.given_up


@dataclass(frozen=True)
class _Claimed:
    row_id: uuid.UUID
    kind: str
    attempts: int
    user_id: uuid.UUID
    email: Email
    token_id: uuid.UUID | None


def retry_delay(attempts: int) -> timedelta:
    """How long after its `attempts`-th failure a row is tried again: the base, then five times longer each time."""
    return timedelta(seconds=get_settings().EMAIL_RETRY_BASE_SECONDS * 5 ** (attempts - 1))


def _lease() -> timedelta:
    """How long a claimed row is left to its sender before another may take it (a sender that died)."""
    return timedelta(seconds=max(120.0, 6 * get_settings().SMTP_TIMEOUT))


async def _claim(session: AsyncSession, *, only: list[uuid.UUID] | None, tried: set[uuid.UUID]) -> EmailOutbox | None:
    """Take the next due pending row (of `only`, when given, and none of `tried`) for this sender."""
    now = utcnow()
    due = (
        select(col(EmailOutbox.id))
        .where(col(EmailOutbox.state) == EmailState.PENDING.value, col(EmailOutbox.next_attempt_at) <= now)
        .order_by(col(EmailOutbox.next_attempt_at), col(EmailOutbox.created_at))
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if only is not None:
        due = due.where(col(EmailOutbox.id).in_(only))
    if tried:
        due = due.where(col(EmailOutbox.id).not_in(tried))
    claimed = await session.execute(
        update(EmailOutbox)
        .where(col(EmailOutbox.id) == due.scalar_subquery())
        .values(attempts=col(EmailOutbox.attempts) + 1, next_attempt_at=now + _lease())
        .returning(EmailOutbox)
        .execution_options(synchronize_session=False)
    )
    return claimed.scalar_one_or_none()


async def _skip(session: AsyncSession, row: EmailOutbox, reason: str) -> None:
    await session.execute(
        update(EmailOutbox)
        .where(col(EmailOutbox.id) == row.id)
        .values(state=EmailState.SKIPPED.value, last_error=reason)
        .execution_options(synchronize_session=False)
    )
    logger.info("email %s (%s) not sent: %s", row.id, row.kind, reason)


SECURITY_NOTICES = frozenset({EmailKind.PASSWORD_CHANGED, EmailKind.MFA_CHANGED, EmailKind.PASSKEY_CHANGED})


async def _prepare(session: AsyncSession, row: EmailOutbox) -> _Claimed | None:
    """The message for `row`, its link minted now; None (and the row skipped) when it must not go."""
    settings = get_settings()
    now = utcnow()
    kind = EmailKind(row.kind)
    user = await session.get(User, row.user_id, populate_existing=True)
    if user is None:
        await _skip(session, row, "the account no longer exists")
        return None
    data = dict(row.data)
    subject = str(data.pop("subject", settings.APP_NAME))
    # Nothing the user typed reaches an address that is not proven theirs: a stranger's address
    # given at sign-up must not receive a name chosen by whoever gave it. Security notices carry
    # none either: whoever stole a session could have set it, and must not write to the owner.
    verified_owner = user.is_verified and user.email == row.address
    context: dict[str, Any] = {
        **data,
        "first_name": user.first_name if verified_owner and kind not in SECURITY_NOTICES else None,
        "link": settings.FRONTEND_URL,
    }
    token_id = None
    page = LINK_PAGES.get(kind)
    if page is not None:
        expires_at = row.link_expires_at
        if expires_at is None or expires_at - now < min(MIN_LINK_LIFETIME, (expires_at - row.created_at) / 2):
            await _skip(session, row, "its link would have expired")
            return None
        if not user.is_active:
            await _skip(session, row, "the account is inactive")
            return None
        newer = await session.execute(
            select(col(EmailOutbox.id))
            .where(
                col(EmailOutbox.user_id) == row.user_id,
                col(EmailOutbox.kind) == row.kind,
                col(EmailOutbox.created_at) > row.created_at,
                col(EmailOutbox.state).in_(LIVE_STATES),
            )
            .limit(1)
        )
        if newer.first() is not None:
            await _skip(session, row, "a newer link replaced it")
            return None
        issued = issue_email_token(
            session, user_id=user.id, purpose=EmailTokenPurpose(kind.value), expires_at=expires_at
        )
        token_id = issued.id
        context["link"] = email_link(page, issued.token)
        context["expires_in"] = describe_duration(expires_at - now)
    email = Email(to=row.address, subject=subject, template=row.kind, context=context)
    return _Claimed(row.id, row.kind, row.attempts, row.user_id, email, token_id)


async def _deliver(email: Email) -> str | None:
    """Render and send; None when sent, else what went wrong (safe to log and store)."""
    from lib.email.backends import deliver
    from lib.email.render import build_message

    try:
        await deliver(build_message(email))
    except Exception as exc:
        return redact(f"{type(exc).__name__}: {exc}")[:200]
    return None


async def _record(session: AsyncSession, claimed: _Claimed, error: str | None) -> EmailCounts:
    settings = get_settings()
    now = utcnow()
    row = col(EmailOutbox.id) == claimed.row_id
    if error is None:
        if claimed.token_id is not None and await lock_user(session, user_id=claimed.user_id) is not None:
            # Only the newest link works: the ones mailed before it stop.
            purpose = EmailTokenPurpose(claimed.kind)
            await retire_email_tokens(session, user_id=claimed.user_id, purpose=purpose, keep=claimed.token_id)
        await session.execute(
            update(EmailOutbox)
            .where(row)
            .values(state=EmailState.SENT.value, sent_at=now, last_error=None)
            .execution_options(synchronize_session=False)
        )
        return EmailCounts(sent=1)
    if claimed.token_id is not None:
        await session.execute(delete(EmailToken).where(col(EmailToken.id) == claimed.token_id))
    logger.warning("email %s (%r) not sent, attempt %d: %s", claimed.row_id, claimed.kind, claimed.attempts, error)
    if claimed.attempts >= settings.EMAIL_MAX_ATTEMPTS:
        await session.execute(
            update(EmailOutbox)
            .where(row)
            .values(state=EmailState.GIVEN_UP.value, last_error=error)
            .execution_options(synchronize_session=False)
        )
        logger.error(
            "email %s (%r) given up after %d attempts: %s", claimed.row_id, claimed.kind, claimed.attempts, error
        )
        return EmailCounts(given_up=1)
    await session.execute(
        update(EmailOutbox)
        .where(row)
        .values(next_attempt_at=now + retry_delay(claimed.attempts), last_error=error)
        .execution_options(synchronize_session=False)
    )
    return EmailCounts(failed=1)


async def _send_next(
    session: AsyncSession, *, only: list[uuid.UUID] | None, tried: set[uuid.UUID]
) -> EmailCounts | None:
    """Claim, send and record one row; None when no row is left to claim.

    The claim commits at once: a transaction that holds an outbox row never goes on to lock
    its user (the lock order is the user, then what belongs to the user; deleting a user
    cascades in that order)."""
    async with session.begin():
        row = await _claim(session, only=only, tried=tried)
        if row is None:
            return None
    tried.add(row.id)
    async with session.begin():
        claimed = await _prepare(session, row)
    if claimed is None:
        return EmailCounts()
    error = await _deliver(claimed.email)
    async with session.begin():
        return await _record(session, claimed, error)


async def _sender(
    *,
    only: list[uuid.UUID] | None,
    tried: set[uuid.UUID],
    counts: EmailCounts,
    deadline: float,
    session: AsyncSession | None = None,
) -> None:
    """Send due rows until none is left or `deadline`, on `session` (closed at the end) or a new one."""
    async with session or request_session() as own:
        while time.monotonic() < deadline:
            outcome = await _send_next(own, only=only, tried=tried)
            if outcome is None:
                return
            counts.add(outcome)


async def send_rows(ids: list[uuid.UUID], *, session: AsyncSession | None = None) -> EmailCounts:
    """Send the rows `ids` that are due and pending (after a request's answer, or from the queue),
    each once at most; on `session` when given (the request's own, handed over: it is closed
    here), or on a connection of its own."""
    counts = EmailCounts()
    if not ids:
        if session is not None:
            await session.close()
        return counts
    await _sender(only=list(ids), tried=set(), counts=counts, deadline=float("inf"), session=session)
    return counts


async def drain_due(*, senders: int = 4, seconds: float = 20.0) -> EmailCounts:
    """Send every due row, `senders` at a time, each tried once at most; no new row is claimed
    after `seconds` (what is left waits for the next run)."""
    counts = EmailCounts()
    tried: set[uuid.UUID] = set()
    deadline = time.monotonic() + seconds
    await asyncio.gather(
        *(_sender(only=None, tried=tried, counts=counts, deadline=deadline) for _ in range(max(1, senders)))
    )
    return counts


async def send_queued(event: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """The mailer's work for one SQS batch: send the rows each message names. A message that
    could not be handled (the database unreachable) is reported back for SQS to deliver again
    (and, after its receive count, to the dead-letter queue); the rows stay pending for the
    scheduled retry in any case."""
    failures: list[dict[str, str]] = []
    for record in event.get("Records") or []:
        try:
            ids = read_message_body(str(record.get("body", "")))
        except ValueError:
            logger.error("email queue: a message that is not ours was dropped (%s)", record.get("messageId"))
            continue
        try:
            await send_rows(ids)
        except Exception as exc:
            logger.warning("email queue: message %s left for a retry: %s", record.get("messageId"), type(exc).__name__)
            failures.append({"itemIdentifier": str(record.get("messageId", ""))})
    return {"batchItemFailures": failures}
