from __future__ import annotations

import pytest

from lib.sessions.throttle import address_key, throttle_keys


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
