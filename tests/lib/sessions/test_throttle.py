from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from lib.db import get_engine
from lib.models import LoginFailure, utcnow
from lib.sessions.throttle import address_key, delete_stale_login_failures, throttle_keys


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "ip:203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "ip:2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "ip:203.0.113.7"),
        (None, None),
    ],
)
def test_address_keys(address: str | None, key: str | None) -> None:
    assert address_key(address) == key


def test_account_key_is_a_digest_of_the_normalized_identifier() -> None:
    keys = throttle_keys(identifier="  Ada@Example.COM ", ip_address=None)
    assert keys == throttle_keys(identifier="ada@example.com", ip_address=None)
    assert keys.account.startswith("account:")
    assert len(keys.account) == len("account:") + 64
    assert "ada" not in keys.account
    assert keys.all == [keys.account]


async def test_stale_failures_are_deleted_and_counted_ones_kept(settings_env: object) -> None:
    settings_env(LOGIN_FAILURE_WINDOW_SECONDS="60")  # type: ignore[operator]
    now = utcnow()
    async with AsyncSession(get_engine()) as session:
        await session.execute(
            insert(LoginFailure),
            [{"key": "ip:old", "created_at": now - timedelta(seconds=61)}, {"key": "ip:new", "created_at": now}],
        )
        assert await delete_stale_login_failures(session) == 1
        await session.commit()
        assert list((await session.execute(select(LoginFailure.key))).scalars()) == ["ip:new"]
