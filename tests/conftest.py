"""Test configuration: a fresh signing key, cheap hashing, migrations once, clean tables per test."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parent.parent


def _test_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return base64.b64encode(pem).decode("ascii")


_TMP = tempfile.mkdtemp(prefix="authsvc-tests-")
os.environ.update(
    ENV_FILE="",
    ENVIRONMENT="development",
    RSA_PRIVATE_KEY_CONTENT=_test_key(),
    JWT_ISSUER="http://testserver",
    JWT_AUDIENCE="auth-service-tests",
    PASSWORD_ARGON2_TIME_COST="1",
    PASSWORD_ARGON2_MEMORY_COST="1024",
    PASSWORD_ARGON2_PARALLELISM="1",
    EMAIL_BACKEND="console",
    CORS_ORIGINS="http://localhost:3000,https://app.example.com",
    FRONTEND_URL="https://app.example.com",
    CRON_SECRET="test-cron-secret",
    MFA_ENCRYPTION_KEY=Fernet.generate_key().decode("ascii"),
)
os.environ.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{_TMP}/test.db")

# Each api/ module builds a Mangum handler at import, which makes an event loop when
# none is set; give them one shared loop that the session closes.
_IMPORT_LOOP = asyncio.new_event_loop()
asyncio.set_event_loop(_IMPORT_LOOP)

pytest.register_assert_rewrite("tests.fixtures")  # they are imported here, before pytest would rewrite them
from tests.fixtures.app import clear_caches  # noqa: E402
from tests.fixtures.database import clean_tables, is_postgres, migrate  # noqa: E402
from tests.fixtures.events import secrets_in_events  # noqa: E402

# Fixture modules, found by pytest instead of imported by hand (after the environment above is set).
pytest_plugins = [
    "tests.fixtures.app",
    "tests.fixtures.browser",
    "tests.fixtures.live",
    "tests.fixtures.mail",
    "tests.fixtures.races",
    "tests.fixtures.roles",
    "tests.fixtures.vercel",
]


@pytest.fixture(scope="session", autouse=True)
def _database() -> Iterator[None]:
    migrate()
    yield
    asyncio.set_event_loop(None)
    _IMPORT_LOOP.close()
    shutil.rmtree(_TMP, ignore_errors=True)  # the run's SQLite file and scratch space


@pytest.fixture(autouse=True)
async def _clean_database() -> AsyncIterator[None]:
    yield
    clear_caches()
    # Every test's flows leave security events: none of them may hold a secret.
    found = await secrets_in_events()
    await clean_tables()
    assert found == [], f"security events hold what looks like a secret: {found}"


def pytest_report_header() -> str:
    backend = "PostgreSQL" if is_postgres() else "SQLite"
    return f"database: {backend} ({os.environ.get('TEST_DATABASE_LABEL', 'direct')})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The second pass of `scripts/test` (TEST_SKIP_DATABASE_INDEPENDENT=1) leaves out what the
    database cannot change (packaging, the benchmark's own PostgreSQL): deselected, not skipped;
    unless nothing else was chosen (a pass that runs nothing fails)."""
    if os.environ.get("TEST_SKIP_DATABASE_INDEPENDENT") != "1":
        return
    independent = [item for item in items if item.get_closest_marker("database_independent")]
    if independent and len(independent) < len(items):
        config.hook.pytest_deselected(items=independent)
        items[:] = [item for item in items if not item.get_closest_marker("database_independent")]
