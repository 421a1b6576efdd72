from __future__ import annotations

import pytest

from lib.security.throttle import account_key, address_key, address_limits, login_limits
from tests.fixtures.app import SettingsEnv


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
    key = account_key("  Ada@Example.COM ")
    assert key == account_key("ada@example.com")
    assert key.startswith("account:")
    assert len(key) == len("account:") + 64
    assert "ada" not in key


def test_login_counts_the_account_and_the_address_each_with_its_own_limit(settings_env: SettingsEnv) -> None:
    settings_env(LOGIN_MAX_FAILURES="5", LOGIN_MAX_FAILURES_PER_IP="100")
    account, address = login_limits(identifier="ada", ip_address="203.0.113.7")
    assert (account.key, account.limit, account.scope) == (account_key("ada"), 5, "account")
    assert (address.key, address.limit, address.scope) == ("ip:203.0.113.7", 100, "address")
    assert [limit.key for limit in login_limits(identifier="ada", ip_address=None)] == [account_key("ada")]


def test_each_action_counts_its_own_address_key() -> None:
    (sign_up,) = address_limits("sign-up", ip_address="2001:db8:1:2:aaaa::1", limit=3)
    assert sign_up.key == "sign-up:ip:2001:db8:1:2::/64"
    assert address_limits("sign-up", ip_address=None, limit=3) == []
