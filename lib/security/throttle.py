"""Throttling, counted in the database so that every function instance sees the same count.

An attempt is reserved before the password is checked: the keys are locked while they are
counted and the new attempt recorded, and that record is committed at once, so parallel
attempts see each other and no more than the limit get through. A successful login gives
its reservation back; a failed one stays as the counted failure.

Login counts two keys: the account and the client address (an IPv6 address counts by its /64,
which one client usually holds whole). The account is one count whichever identifier is typed
(its email, its username, any spelling of either); an identifier that names no account is
counted by itself, alike, so a 429 tells nobody whether an account exists. The key is an HMAC
under a secret derived from the signing key, so the table holds no typed identifier, nor a
plain hash that a dump could be checked against. Second-factor codes and the passwords of
signed-in changes count under the same account key. Sign-up and the email-sending requests
count the client address only.

A request run again after its transaction lost a race (`lib.middleware`) takes over the
reservation its earlier run committed, so that it counts once.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Delete,
    Insert,
    Integer,
    String,
    Subquery,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import BIT
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.config import get_settings
from lib.db import commit_now, dialect_name
from lib.errors import TooManyRequests
from lib.log import log_event
from lib.models import Attempt, utcnow
from lib.models.base import UTCDateTime
from lib.request_runs import committed_by_earlier_run, keep_for_later_runs
from lib.security.keys import derived_secret
from lib.validation import normalize_email


@dataclass(frozen=True)
class Limit:
    key: str
    limit: int
    window_seconds: int
    scope: str  # "account" or "address", for the log
    lock_id: int | None = None  # the advisory lock serializing this count; by default derived from `key`

    @property
    def lock(self) -> int:
        return self.lock_id if self.lock_id is not None else _lock_id(self.key)


@dataclass(frozen=True)
class Reservation:
    """What `reserve_attempt` recorded: the rows by key."""

    rows: dict[str, int]
    account_key: str | None = None


def normalize_identifier(identifier: str) -> str:
    """An address in the one form it is stored in (so every spelling of it counts alike), a
    username trimmed and lower-cased."""
    identifier = identifier.strip()
    return normalize_email(identifier, strict=False) if "@" in identifier else identifier.lower()


def account_key(*, user_id: uuid.UUID | None, identifier: str = "") -> str:
    """The account's count: the same for every identifier of the account; an identifier that
    names no account (`user_id` None) is counted by itself."""
    subject = f"user:{user_id}" if user_id is not None else f"identifier:{normalize_identifier(identifier)}"
    digest = hmac.new(derived_secret("login throttle keys"), subject.encode("utf-8"), hashlib.sha256)
    return f"account:{digest.hexdigest()}"


def address_key(ip_address: str | None, *, prefix: str = "ip") -> str | None:
    if not ip_address:
        return None
    try:
        address = ipaddress.ip_address(ip_address)
    except ValueError:
        return f"{prefix}:{ip_address[:64]}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"{prefix}:{address.ipv4_mapped}"
        return f"{prefix}:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"{prefix}:{address}"


def account_lock_id(user_id: uuid.UUID) -> int:
    """The advisory lock of an account's count: the user id's first 64 bits, a number PostgreSQL
    computes too (`account_lock_sql`), so that a login takes it in the statement that finds the
    account."""
    return int.from_bytes(user_id.bytes[:8], "big", signed=True)


def account_lock_sql(user_id: ColumnElement[Any]) -> ColumnElement[int]:
    """`account_lock_id` of a user id column, computed by PostgreSQL."""
    hex_digits = func.left(func.translate(cast(user_id, String()), "-", ""), 16)
    return cast(cast(literal("x", String()) + hex_digits, BIT(64)), BigInteger())


def login_limits(*, user_id: uuid.UUID | None, identifier: str = "", ip_address: str | None) -> list[Limit]:
    settings = get_settings()
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    account = account_key(user_id=user_id, identifier=identifier)
    lock_id = account_lock_id(user_id) if user_id is not None else None
    limits = [Limit(account, settings.LOGIN_MAX_FAILURES, window, "account", lock_id)]
    address = address_key(ip_address)
    if address is not None:
        limits.append(Limit(address, settings.LOGIN_MAX_FAILURES_PER_IP, window, "address"))
    return limits


def address_limits(action: str, *, ip_address: str | None, limit: int) -> list[Limit]:
    """The per-address limit of `action` (sign-up, forgot-password, resend), or none without an address."""
    key = address_key(ip_address, prefix=f"{action}:ip")
    return [] if key is None else [Limit(key, limit, get_settings().ADDRESS_LIMIT_WINDOW_SECONDS, "address")]


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big", signed=True)


async def _lock_keys(session: AsyncSession, limits: Iterable[Limit]) -> None:
    """Serialize counting per key: PostgreSQL advisory locks held to the end of the transaction,
    taken in one order (ascending ids) so that two requests never wait on each other. SQLite
    needs none: its transactions take the write lock up front (BEGIN IMMEDIATE)."""
    if dialect_name(session) != "postgresql":
        return
    ids = sorted({limit.lock for limit in limits})
    calls = ", ".join(f"pg_advisory_xact_lock(:k{index})" for index in range(len(ids)))
    await session.execute(text(f"SELECT {calls}"), {f"k{index}": value for index, value in enumerate(ids)})


def locking_in_order(lock_ids: Sequence[ColumnElement[Any]]) -> Subquery:
    """A one-row subquery that takes the advisory locks `lock_ids` (SQL expressions; a NULL one is
    skipped) in `_lock_keys`'s order, for a statement that locks while it reads something else."""
    ids = union_all(*(select(lock_id.label("lock_id")) for lock_id in lock_ids)).subquery("lock_ids")
    ordered = select(ids.c.lock_id).order_by(ids.c.lock_id).subquery("ordered")
    return select(func.count(func.pg_advisory_xact_lock(ordered.c.lock_id)).label("locks")).subquery("locked")


async def reserve_attempt(
    session: AsyncSession, limits: Sequence[Limit], *, message: str, event: str = "throttled", locked: bool = False
) -> Reservation:
    """Record one attempt under every limit and commit it, or refuse with 429 when a limit is
    used up (nothing recorded). A request run again after a lost race takes over what its
    earlier run reserved: one request, one attempt. `locked`: this transaction already holds
    the limits' locks (`locking_in_order`)."""
    kind = ("throttle reservation", *(limit.key for limit in limits))
    earlier: Reservation | None = committed_by_earlier_run(kind)
    if earlier is not None:
        return earlier
    reservation = await record_attempt(session, limits, message=message, event=event, locked=locked)
    await commit_now(session)  # parallel attempts must see this one, and a failure keeps it
    keep_for_later_runs(kind, reservation)
    return reservation


@functools.cache
def _recording(count: int) -> Insert:
    """The statement that records one attempt under `count` keys unless a limit is used up, built
    once per number of keys. Parameters: `at`, and per key `key{i}`, `since{i}` (its window's
    start) and `limit{i}`."""
    failures = Attempt.__table__  # type: ignore[attr-defined]

    def used_up(index: int) -> ColumnElement[bool]:
        counted = select(func.count()).where(
            failures.c.key == bindparam(f"key{index}", type_=String()),
            failures.c.created_at > bindparam(f"since{index}", type_=UTCDateTime()),
        )
        return counted.scalar_subquery() >= bindparam(f"limit{index}", type_=Integer())

    at = bindparam("at", type_=UTCDateTime())
    attempts = union_all(
        *(select(bindparam(f"key{index}", type_=String()).label("key"), at.label("at")) for index in range(count))
    ).subquery()
    return (
        insert(failures)
        .from_select(["key", "created_at"], select(attempts).where(not_(or_(*(used_up(i) for i in range(count))))))
        .returning(failures.c.id, failures.c.key)
    )


async def record_attempt(
    session: AsyncSession, limits: Sequence[Limit], *, message: str, event: str = "throttled", locked: bool = False
) -> Reservation:
    """Record one attempt under every limit, or refuse with 429 when a limit is used up (nothing
    recorded). `Retry-After` is the time until the oldest counted attempt leaves its window.

    The caller commits (`commit_now`) before it checks anything the attempt is for: until
    then, parallel attempts wait on the keys' locks (taken here, unless `locked`: the caller's
    transaction took them already)."""
    if not limits:
        return Reservation(rows={})
    if not locked:
        await _lock_keys(session, limits)
    now = utcnow()
    parameters: dict[str, Any] = {"at": now}
    for index, limit in enumerate(limits):
        parameters[f"key{index}"] = limit.key
        parameters[f"since{index}"] = now - timedelta(seconds=limit.window_seconds)
        parameters[f"limit{index}"] = limit.limit
    # One statement records the attempt under every key unless a limit is used up.
    inserted = await session.execute(_recording(len(limits)), parameters)
    rows = {key: row_id for row_id, key in inserted.all()}
    if not rows:
        retry_after, scope = await _retry_after(session, limits, now=now)
        log_event(event, scope=scope, retry_after=retry_after)
        raise TooManyRequests(retry_after, message)
    return Reservation(rows=rows, account_key=next((limit.key for limit in limits if limit.scope == "account"), None))


async def _retry_after(session: AsyncSession, limits: Sequence[Limit], *, now: datetime) -> tuple[int, str]:
    """Seconds until the oldest counted attempt of the used-up limit that frees last leaves its
    window, and that limit's scope."""
    windows = {limit.key: timedelta(seconds=limit.window_seconds) for limit in limits}
    rows = (
        await session.execute(
            select(col(Attempt.key), func.count(), func.min(col(Attempt.created_at)))
            .where(
                or_(
                    *(
                        and_(col(Attempt.key) == key, col(Attempt.created_at) > now - window)
                        for key, window in windows.items()
                    )
                )
            )
            .group_by(col(Attempt.key))
        )
    ).all()
    counts: dict[str, tuple[int, datetime]] = {key: (count, oldest or now) for key, count, oldest in rows}
    retry_after, scope = 0, ""
    for limit in limits:
        count, oldest = counts.get(limit.key, (0, now))
        if count >= limit.limit:
            oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
            wait = math.ceil((oldest + windows[limit.key] - now).total_seconds())
            if wait > retry_after or not scope:
                retry_after, scope = wait, limit.scope
    return max(1, retry_after), scope or limits[0].scope


async def reserve_login_attempt(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    identifier: str = "",
    ip_address: str | None,
    message: str,
    locked: bool = False,
) -> Reservation:
    """A password or second-factor attempt against the account `user_id` (None: the typed
    `identifier` names no account) from `ip_address`. `locked`: the transaction already holds
    the limits' locks (the password login takes them as it finds the account)."""
    limits = login_limits(user_id=user_id, identifier=identifier, ip_address=ip_address)
    return await reserve_attempt(session, limits, message=message, event="login_throttled", locked=locked)


async def release_this_attempt(session: AsyncSession, reservation: Reservation) -> None:
    """This attempt no longer counts (a right password that still needs a second factor, an
    MFA change's right password); the account's earlier failures still do."""
    await release_attempt(session, Reservation(rows=reservation.rows))


_attempts = Attempt.__table__  # type: ignore[attr-defined]
# This request's attempts, and with `account_key` (None: no account) the account's whole count.
RELEASE = delete(_attempts).where(
    or_(
        _attempts.c.id.in_(bindparam("attempt_ids", expanding=True)),
        _attempts.c.key == bindparam("account_key", type_=String()),
    )
)


def releasing(reservation: Reservation) -> tuple[Delete, dict[str, Any]]:
    """`release_attempt`'s statement and parameters, for a caller that folds it into another
    statement (`lib.sessions.start.start_session`)."""
    return RELEASE, {"attempt_ids": list(reservation.rows.values()), "account_key": reservation.account_key}


async def release_attempt(session: AsyncSession, reservation: Reservation) -> None:
    """The password was right: the account's count starts again, and this attempt no longer
    counts against the address."""
    statement, parameters = releasing(reservation)
    await session.execute(statement, parameters)


async def clear_account_failures(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """Forget the failures counted against the account (its owner proved themselves by email)."""
    await session.execute(delete(Attempt).where(col(Attempt.key) == account_key(user_id=user_id)))
