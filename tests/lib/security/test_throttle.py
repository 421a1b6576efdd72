from __future__ import annotations

import hashlib
import uuid

import pytest
from sqlalchemy import Uuid, literal, select

from lib.db import get_engine
from lib.security.throttle import (
    account_key,
    account_lock_id,
    account_lock_sql,
    address_key,
    address_limits,
    login_limits,
)
from tests.fixtures.app import SettingsEnv
from tests.fixtures.database import is_postgres
from tests.fixtures.keys import b64, new_private_key, private_pem


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


def test_an_identifier_that_names_no_account_counts_by_itself_in_every_spelling() -> None:
    key = account_key(user_id=None, identifier="  Ada@Example.COM ")
    assert key == account_key(user_id=None, identifier="ada@example.com")
    assert key != account_key(user_id=None, identifier="ada")
    assert key.startswith("account:")
    assert len(key) == len("account:") + 64
    assert "ada" not in key


def test_an_account_is_one_count_whichever_identifier_was_typed() -> None:
    user_id = uuid.uuid4()
    key = account_key(user_id=user_id, identifier="ada@example.com")
    assert key == account_key(user_id=user_id, identifier="Ada") == account_key(user_id=user_id)
    assert key != account_key(user_id=uuid.uuid4())
    assert key != account_key(user_id=None, identifier="ada@example.com")


def test_account_keys_are_keyed_with_a_secret_from_the_signing_key(settings_env: SettingsEnv) -> None:
    """A dump of the table cannot be checked against a list of addresses: no plain hash."""
    user_id = uuid.uuid4()
    typed = "ada@example.com"
    before = account_key(user_id=None, identifier=typed), account_key(user_id=user_id)
    plain = {hashlib.sha256(text.encode()).hexdigest() for text in (typed, f"user:{user_id}", str(user_id))}
    assert not {key.removeprefix("account:") for key in before} & plain
    settings_env(RSA_PRIVATE_KEY_CONTENT=b64(private_pem(new_private_key())))
    after = account_key(user_id=None, identifier=typed), account_key(user_id=user_id)
    assert not set(before) & set(after)


def test_login_counts_the_account_and_the_address_each_with_its_own_limit(settings_env: SettingsEnv) -> None:
    settings_env(LOGIN_MAX_FAILURES="5", LOGIN_MAX_FAILURES_PER_IP="100")
    user_id = uuid.uuid4()
    account, address = login_limits(user_id=user_id, identifier="ada", ip_address="203.0.113.7")
    assert (account.key, account.limit, account.scope) == (account_key(user_id=user_id), 5, "account")
    assert (address.key, address.limit, address.scope) == ("ip:203.0.113.7", 100, "address")
    unknown = login_limits(user_id=None, identifier="ada", ip_address=None)
    assert [limit.key for limit in unknown] == [account_key(user_id=None, identifier="ada")]


def test_each_action_counts_its_own_address_key() -> None:
    (sign_up,) = address_limits("sign-up", ip_address="2001:db8:1:2:aaaa::1", limit=3)
    assert sign_up.key == "sign-up:ip:2001:db8:1:2::/64"
    assert address_limits("sign-up", ip_address=None, limit=3) == []


@pytest.mark.postgres_only
@pytest.mark.skipif(not is_postgres(), reason="the lock id as PostgreSQL computes it")
async def test_postgresql_computes_the_account_lock_that_python_takes() -> None:
    """The login takes the account's lock in the statement that finds the account (in SQL); the
    second factor and the signed-in password checks take it in Python: one lock, or their counts
    would race each other."""
    ids = [uuid.uuid4() for _ in range(50)] + [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]
    async with get_engine().connect() as connection:
        for user_id in ids:
            computed = await connection.scalar(select(account_lock_sql(literal(user_id, Uuid()))))
            assert computed == account_lock_id(user_id), user_id
    assert len({account_lock_id(user_id) for user_id in ids}) == len(ids)
