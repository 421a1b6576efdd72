"""What production is, and the settings it refuses to start with.

Production is `ENVIRONMENT=production`, and also any deployed function (Vercel sets
`VERCEL_ENV`, Lambda `AWS_LAMBDA_FUNCTION_NAME`) unless `ENVIRONMENT=development` is
explicit. Each refusal is one line that starts with the variable to change.
"""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from lib.config import Settings

CRON_SECRET_MIN_LENGTH = 32
# OWASP's minimum for Argon2id: 19 MiB of memory, 2 iterations.
ARGON2_MIN_MEMORY_KIB = 19 * 1024
ARGON2_MIN_TIME_COST = 2
PASSWORD_MIN_LENGTH_FLOOR = 8
# Where the AWS SDK finds credentials on the platforms this runs on (Lambda sets the first).
AWS_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)


def deployed() -> bool:
    return bool(os.environ.get("VERCEL_ENV") or os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def is_loopback(host: str | None) -> bool:
    """True for localhost names, loopback and unspecified addresses, and no host (a Unix socket)."""
    if not host:
        return True
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _public_https_url(name: str, value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or is_loopback(parts.hostname):
        return f"{name} must be a public https:// URL in production, not {value!r}"
    return None


def _database_problem(url: str) -> str | None:
    if url.strip().startswith("sqlite"):
        return "DATABASE_URL must name PostgreSQL in production, not SQLite"
    parts = urlsplit(url.strip())
    query = dict(parse_qsl(parts.query))
    if "disable" in (query.get("sslmode"), query.get("ssl")) and not is_loopback(parts.hostname):
        return f"DATABASE_URL has sslmode=disable to {parts.hostname}: production needs TLS to a remote database"
    return None


def _email_problem(settings: Settings) -> str | None:
    if settings.EMAIL_BACKEND == "console":
        return "EMAIL_BACKEND=console only prints emails (their links into the log); use smtp or ses in production"
    if settings.EMAIL_BACKEND == "smtp":
        if not settings.SMTP_HOST:
            return "SMTP_HOST must be set when EMAIL_BACKEND=smtp in production"
        if settings.SMTP_USER and not settings.SMTP_PASSWORD:
            return "SMTP_PASSWORD must be set when SMTP_USER is set in production"
    if settings.EMAIL_BACKEND == "ses" and not any(os.environ.get(name) for name in AWS_CREDENTIAL_VARIABLES):
        return "AWS_ACCESS_KEY_ID (or another AWS credential source) must be set when EMAIL_BACKEND=ses in production"
    return None


def production_problems(settings: Settings) -> list[str]:
    """Every refusal for `settings` in production, in the order a deployer would fix them."""
    from lib.passkeys.relying_party import production_problem as relying_party_problem

    problems = [
        None
        if settings.RSA_PRIVATE_KEY_CONTENT or settings.RSA_PRIVATE_KEY_PATH
        else "RSA_PRIVATE_KEY_CONTENT (or RSA_PRIVATE_KEY_PATH) must be set in production",
        None
        if settings.MFA_ENCRYPTION_KEY
        else "MFA_ENCRYPTION_KEY must be set in production (a Fernet key: Fernet.generate_key())",
        _database_problem(settings.DATABASE_URL),
        "DEBUG must be false in production" if settings.DEBUG else None,
        _email_problem(settings),
        _public_https_url("JWT_ISSUER", settings.JWT_ISSUER),
        _public_https_url("FRONTEND_URL", settings.FRONTEND_URL),
        "CORS_ORIGINS must list origins, without '*', in production"
        if any("*" in origin for origin in settings.CORS_ORIGINS)
        else None,
        None
        if len(settings.CRON_SECRET or "") >= CRON_SECRET_MIN_LENGTH
        else f"CRON_SECRET must be at least {CRON_SECRET_MIN_LENGTH} random characters in production",
        f"PASSWORD_ARGON2_MEMORY_COST must be at least {ARGON2_MIN_MEMORY_KIB} (KiB, OWASP's minimum) in production"
        if settings.PASSWORD_ARGON2_MEMORY_COST < ARGON2_MIN_MEMORY_KIB
        else None,
        f"PASSWORD_ARGON2_TIME_COST must be at least {ARGON2_MIN_TIME_COST} (OWASP's minimum) in production"
        if settings.PASSWORD_ARGON2_TIME_COST < ARGON2_MIN_TIME_COST
        else None,
        f"PASSWORD_MIN_LENGTH must be at least {PASSWORD_MIN_LENGTH_FLOOR} in production"
        if settings.PASSWORD_MIN_LENGTH < PASSWORD_MIN_LENGTH_FLOOR
        else None,
        relying_party_problem(settings.WEBAUTHN_RP_ID or "", settings.WEBAUTHN_ORIGINS),
    ]
    return [problem for problem in problems if problem]
