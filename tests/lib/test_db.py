from __future__ import annotations

import pytest

from lib.db import normalize_database_url


@pytest.mark.parametrize(
    ("given", "url", "connect_args"),
    [
        ("postgres://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db", {}),
        ("postgresql://u:p@h/db?sslmode=require", "postgresql+asyncpg://u:p@h/db", {"ssl": "require"}),
        (
            "postgresql://u:p@ep-x-pooler.aws.neon.tech/db?sslmode=require&channel_binding=require",
            "postgresql+asyncpg://u:p@ep-x-pooler.aws.neon.tech/db",
            {"ssl": "require"},
        ),
        ("postgresql+asyncpg://u:p@h/db?connect_timeout=3", "postgresql+asyncpg://u:p@h/db", {"timeout": 3.0}),
        ("sqlite:///./auth.db", "sqlite+aiosqlite:///./auth.db", {}),
        ("sqlite+aiosqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db", {}),
    ],
)
def test_provider_urls_are_normalised_for_asyncpg(given: str, url: str, connect_args: dict[str, object]) -> None:
    assert normalize_database_url(given) == (url, connect_args)


def test_unknown_sslmode_is_refused() -> None:
    with pytest.raises(ValueError, match="sslmode"):
        normalize_database_url("postgresql://u:p@h/db?sslmode=sometimes")
