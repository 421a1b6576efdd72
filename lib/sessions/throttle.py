"""Login throttling, counted in the database so that every function instance sees the same count.

Two keys are counted: the account (a digest of the normalized identifier, so that an unknown
account is throttled exactly like a known one and no typed identifier is stored) and the
client address (an IPv6 address counts by its /64, which one client usually holds whole).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.config import get_settings
from lib.models import LoginFailure, utcnow


@dataclass(frozen=True)
class ThrottleKeys:
    account: str
    address: str | None

    @property
    def all(self) -> list[str]:
        return [self.account] if self.address is None else [self.account, self.address]


@dataclass(frozen=True)
class Throttled:
    scope: str  # "account" or "address"
    retry_after: int


def normalize_identifier(identifier: str) -> str:
    return identifier.strip().lower()


def address_key(ip_address: str | None) -> str | None:
    if not ip_address:
        return None
    try:
        address = ipaddress.ip_address(ip_address)
    except ValueError:
        return f"ip:{ip_address[:64]}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"ip:{address.ipv4_mapped}"
        return f"ip:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"ip:{address}"


def throttle_keys(*, identifier: str, ip_address: str | None) -> ThrottleKeys:
    digest = hashlib.sha256(normalize_identifier(identifier).encode("utf-8")).hexdigest()
    return ThrottleKeys(account=f"account:{digest}", address=address_key(ip_address))


async def check_login_throttle(session: AsyncSession, *, keys: ThrottleKeys) -> tuple[Throttled | None, int]:
    """One query for both keys. Returns (the throttle in force or None, the account's failure count).

    `Retry-After` is the time until the oldest counted failure leaves the window.
    """
    settings = get_settings()
    window = timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    now = utcnow()
    rows = (
        await session.execute(
            select(col(LoginFailure.key), func.count(), func.min(col(LoginFailure.created_at)))
            .where(col(LoginFailure.key).in_(keys.all), col(LoginFailure.created_at) > now - window)
            .group_by(col(LoginFailure.key))
        )
    ).all()
    counts: dict[str, tuple[int, datetime]] = {key: (count, oldest or now) for key, count, oldest in rows}
    limits = {keys.account: ("account", settings.LOGIN_MAX_FAILURES)}
    if keys.address is not None:
        limits[keys.address] = ("address", settings.LOGIN_MAX_FAILURES_PER_IP or settings.LOGIN_MAX_FAILURES)
    throttled: Throttled | None = None
    for key, (scope, limit) in limits.items():
        count, oldest = counts.get(key, (0, now))
        if count >= limit:
            oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
            retry_after = max(1, math.ceil((oldest + window - now).total_seconds()))
            if throttled is None or retry_after > throttled.retry_after:
                throttled = Throttled(scope=scope, retry_after=retry_after)
    return throttled, counts.get(keys.account, (0, now))[0]


async def record_login_failure(session: AsyncSession, *, keys: ThrottleKeys) -> None:
    now = utcnow()
    await session.execute(insert(LoginFailure), [{"key": key, "created_at": now} for key in keys.all])


async def reset_login_failures(session: AsyncSession, *, keys: ThrottleKeys) -> None:
    """A successful login clears the account's count (not the address's)."""
    await session.execute(delete(LoginFailure).where(col(LoginFailure.key) == keys.account))
