"""What production is, and the settings it refuses to start with.

Production is `ENVIRONMENT=production`, and also any deployed function (Vercel sets
`VERCEL_ENV`, Lambda `AWS_LAMBDA_FUNCTION_NAME`) unless `ENVIRONMENT=development` is
explicit. Each refusal is one line that starts with the variable to change.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from lib.config import Settings

CRON_SECRET_MIN_LENGTH = 32
# 32 random hex digits show fewer than 8 distinct ones about once in 25 million draws.
CRON_SECRET_MIN_DISTINCT = 8
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


# Other names of this machine that resolvers answer with a loopback address (Debian's /etc/hosts).
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
# Dots that IDNA (and so a browser) reads as ".": ideographic, full-width and half-width.
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def _canonical_host(host: str) -> str:
    """The host as a resolver reads it: percent-decoded, IDNA-mapped (full-width digits and
    dots), lower case, without brackets or the root's trailing dot."""
    host = unquote(host).translate(_DOTS).strip().strip("[]").lower()
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    return host.rstrip(".")


def _ipv4_of(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    value = int(address)
    if value >> 32 in {0, 0x64FF9B << 64}:  # ::a.b.c.d (deprecated compatible) and 64:ff9b::/96 (NAT64)
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


def _local_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address.is_loopback or address.is_unspecified:
        return True
    embedded = _ipv4_of(address)
    return embedded is not None and embedded != address and _local_address(embedded)


def is_loopback(host: str | None) -> bool:
    """True for localhost names, loopback and unspecified addresses in any notation a resolver
    accepts (`127.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`, `[::ffff:127.0.0.1]`, `localhost.`),
    and no host (a Unix socket)."""
    if not host:
        return True
    host = _canonical_host(host)
    if not host or host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return _local_address(ipaddress.ip_address(host.partition("%")[0]))  # fe80::1%eth0: the scope is no part
    except ValueError:
        pass
    if host.isascii() and all(part for part in host.split(".")) and all(c.isalnum() or c == "." for c in host):
        try:  # the BSD forms inet_aton reads: 127.1, 2130706433, 0x7f.1, 0177.0.0.1
            return _local_address(ipaddress.IPv4Address(socket.inet_aton(host)))
        except OSError:
            pass
    return False


def _public_https_url(name: str, value: str) -> str | None:
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
    except ValueError:
        return f"{name} must be a public https:// URL in production, not {value!r}"
    if parts.scheme != "https" or not hostname or is_loopback(hostname):
        return f"{name} must be a public https:// URL in production, not {value!r}"
    return None


# What makes asyncpg insist on TLS: libpq's `sslmode` and asyncpg's own `ssl` query parameter.
STRONG_SSLMODES = frozenset({"require", "verify-ca", "verify-full"})
_STRONG_SSL_VALUES = STRONG_SSLMODES | {"true", "1", "on", "yes"}


def _database_hosts(parts: SplitResult, query: list[tuple[str, str]]) -> list[str]:
    """Every host the URL may connect to: the netloc's (several, comma-separated, are tried in
    turn) and libpq's `host` query parameter, which overrides it (a path is a Unix socket)."""
    in_query = [host for name, value in query if name == "host" for host in value.split(",")]
    if in_query:
        return [host for host in in_query if not host.startswith("/")]
    hosts = []
    for item in parts.netloc.rpartition("@")[2].split(","):
        if item.startswith("["):
            hosts.append(item[1:].partition("]")[0])
        else:
            hosts.append(item.partition(":")[0])
    return [host for host in hosts if host]


def _database_problem(url: str) -> str | None:
    if url.strip().startswith("sqlite"):
        return "DATABASE_URL must name PostgreSQL in production, not SQLite"
    parts = urlsplit(url.strip())
    query = parse_qsl(parts.query, keep_blank_values=True)
    remote = [host for host in _database_hosts(parts, query) if not is_loopback(host)]
    if not remote:
        return None
    modes = [value.strip().lower() for name, value in query if name == "sslmode"]
    ssl = [value.strip().lower() for name, value in query if name == "ssl"]
    weak = [value for value in modes if value not in STRONG_SSLMODES] + [v for v in ssl if v not in _STRONG_SSL_VALUES]
    if weak or not (modes or ssl):
        found = f"sslmode={weak[0]}" if weak else "no sslmode"
        return (
            f"DATABASE_URL has {found} to {remote[0]}: production needs sslmode=require "
            "(or verify-ca, verify-full) to a remote database"
        )
    return None


def _email_problem(settings: Settings) -> str | None:
    if settings.EMAIL_BACKEND == "console":
        return "EMAIL_BACKEND=console only prints emails (their links into the log); use smtp or ses in production"
    if settings.EMAIL_BACKEND == "smtp":
        if not settings.SMTP_HOST:
            return "SMTP_HOST must be set when EMAIL_BACKEND=smtp in production"
        if settings.SMTP_USER and not settings.SMTP_PASSWORD:
            return "SMTP_PASSWORD must be set when SMTP_USER is set in production"
        if settings.SMTP_PASSWORD and not settings.SMTP_USE_TLS and not is_loopback(settings.SMTP_HOST):
            return (
                f"SMTP_USE_TLS must be true in production: plain SMTP would send SMTP_PASSWORD "
                f"to {settings.SMTP_HOST} in the clear"
            )
    if settings.EMAIL_BACKEND == "ses" and not any(os.environ.get(name) for name in AWS_CREDENTIAL_VARIABLES):
        return "AWS_ACCESS_KEY_ID (or another AWS credential source) must be set when EMAIL_BACKEND=ses in production"
    return None


def low_variety(secret: str) -> bool:
    """A secret that is not random-looking: few distinct characters (`aaaa...`, `abab...`), or
    one short piece repeated (`password1password1...`)."""
    if len(set(secret)) < CRON_SECRET_MIN_DISTINCT:
        return True
    return any(secret == (secret[:period] * len(secret))[: len(secret)] for period in range(1, len(secret) // 2 + 1))


def _cron_secret_problem(secret: str) -> str | None:
    if len(secret) < CRON_SECRET_MIN_LENGTH:
        return f"CRON_SECRET must be at least {CRON_SECRET_MIN_LENGTH} random characters in production"
    if low_variety(secret):
        return (
            f"CRON_SECRET is of low variety (at least {CRON_SECRET_MIN_DISTINCT} distinct characters, no repeated "
            "piece): use a random one in production, e.g. openssl rand -hex 32"
        )
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
        "CORS_ORIGINS must list origins, without '*' or 'null', in production"
        if any("*" in origin or origin.strip().lower() == "null" for origin in settings.CORS_ORIGINS)
        else None,
        _cron_secret_problem(settings.CRON_SECRET or ""),
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


def check_wellknown_function() -> None:
    """The JWKS function's start-up check (it reads its settings with `lib.env`, without
    pydantic-settings): in production, refuse to start without a signing key or with an issuer
    that is not a public https URL, and parse the key now rather than on the first request.
    Raises ConfigError with one line naming the variable."""
    from lib.config_error import ConfigError
    from lib.env import env

    environment = env("ENVIRONMENT")
    if environment != "production" and (environment is not None or not deployed()):
        return
    key_problem = (
        None
        if env("RSA_PRIVATE_KEY_CONTENT") or env("RSA_PRIVATE_KEY_PATH")
        else "RSA_PRIVATE_KEY_CONTENT (or RSA_PRIVATE_KEY_PATH) must be set in production"
    )
    problem = key_problem or _public_https_url("JWT_ISSUER", env("JWT_ISSUER") or "")
    if problem:
        raise ConfigError(problem)
    from lib.security.keys import jwks_document

    jwks_document()
