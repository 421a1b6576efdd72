"""The PgBouncer that scripts/test starts holds the role's SCRAM secret, as production poolers do,
never its password."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from lib.db import normalize_database_url
from tests.fixtures.database import is_postgres

pytestmark = pytest.mark.skipif(
    not is_postgres() or "PG_WORK" not in os.environ, reason="the PgBouncer that scripts/test starts"
)

SCRAM_SECRET = re.compile(r"SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+")


def test_the_userlist_holds_the_scram_secret_not_the_password() -> None:
    password = urlsplit(os.environ["DATABASE_URL"]).password
    assert password
    userlist = (Path(os.environ["PG_WORK"]) / "userlist.txt").read_text()
    name, secret = re.fullmatch(r'"([^"]+)" "([^"]+)"\n', userlist).groups()  # type: ignore[union-attr]
    assert name == "auth"
    assert SCRAM_SECRET.fullmatch(secret), secret[:20]
    assert password not in userlist


async def test_clients_authenticate_through_the_pooler_with_the_secret() -> None:
    """PgBouncer checks the client's SCRAM proof against the secret, then logs into PostgreSQL
    with the keys that proof carries: a statement runs on the server."""
    url, connect_args = normalize_database_url(os.environ["DATABASE_URL"])
    connection = await asyncpg.connect(
        url.replace("postgresql+asyncpg://", "postgresql://"), statement_cache_size=0, **connect_args
    )
    try:
        assert await connection.fetchval("SELECT current_user") == "auth"
    finally:
        await connection.close()
    wrong = urlsplit(os.environ["DATABASE_URL"])._replace(
        netloc=f"auth:not-the-password@{urlsplit(url).netloc.split('@')[1]}"
    )
    with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.ProtocolViolationError)):  # PgBouncer: 08P01
        await asyncpg.connect(wrong.geturl(), statement_cache_size=0)
