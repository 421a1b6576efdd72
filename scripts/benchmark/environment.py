"""The settings and the database the measured functions run with."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from typing import Any

from scripts.benchmark.plan import ROOT

CRON_SECRET = "bench-cron-secret"


def prepare_environment() -> None:
    """Settings defaults (production Argon2 parameters) with a fresh key and the given database."""
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from lib.config import Settings

    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        raise SystemExit("DATABASE_URL must name PostgreSQL behind PgBouncer (run scripts/bench, which starts them)")
    for name in Settings.model_fields:
        if name != "DATABASE_URL":
            os.environ.pop(name, None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    os.environ.update(
        ENV_FILE="",
        ENVIRONMENT="development",
        RSA_PRIVATE_KEY_CONTENT=base64.b64encode(pem).decode("ascii"),
        CRON_SECRET=CRON_SECRET,
        MFA_ENCRYPTION_KEY=Fernet.generate_key().decode("ascii"),  # two-factor login encrypts its secrets
        PYTHONWARNINGS="ignore",
    )


def migrate() -> None:
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, check=True, capture_output=True)


def asyncpg_dsn() -> tuple[str, dict[str, Any]]:
    """The DSN and connect arguments of a raw asyncpg connection through transaction-mode PgBouncer."""
    from lib.config import get_settings
    from lib.db import normalize_database_url

    url, connect_args = normalize_database_url(get_settings().DATABASE_URL)
    return url.replace("postgresql+asyncpg://", "postgresql://"), {"statement_cache_size": 0, **connect_args}


def argon2_parameters() -> tuple[int, int, int]:
    """(time cost, memory cost in KiB, parallelism) of the settings: the production defaults here."""
    from lib.config import get_settings

    settings = get_settings()
    return (
        settings.PASSWORD_ARGON2_TIME_COST,
        settings.PASSWORD_ARGON2_MEMORY_COST,
        settings.PASSWORD_ARGON2_PARALLELISM,
    )
