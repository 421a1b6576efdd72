from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from dotenv import dotenv_values

from lib.config import ConfigError, Settings, get_settings
from lib.production import AWS_CREDENTIAL_VARIABLES


def test_list_settings_accept_comma_separated_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "http://localhost:3000, https://example.com")
    monkeypatch.setenv("CORS_ALLOW_METHODS", '["GET", "POST"]')
    settings = Settings(_env_file=None)
    assert settings.CORS_ORIGINS == ["http://localhost:3000", "https://example.com"]
    assert settings.CORS_ALLOW_METHODS == ["GET", "POST"]


def test_dotenv_file_is_read(tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"  # type: ignore[operator]
    env_file.write_text("CORS_ORIGINS=http://localhost:3000,https://example.com\nAPP_NAME='From File'\n")
    monkeypatch.delenv("CORS_ORIGINS", raising=False)
    settings = Settings(_env_file=str(env_file))
    assert settings.CORS_ORIGINS == ["http://localhost:3000", "https://example.com"]
    assert settings.APP_NAME == "From File"


SAFE_PRODUCTION = {
    "ENVIRONMENT": "production",
    "DEBUG": "false",
    "DATABASE_URL": "postgres://u:p@db.example.com/auth?sslmode=require",
    "MFA_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "EMAIL_BACKEND": "smtp",
    "SMTP_HOST": "smtp.example.com",
    "SMTP_USER": "apikey",
    "SMTP_PASSWORD": "smtp password",
    "JWT_ISSUER": "https://auth.example.com",
    "FRONTEND_URL": "https://app.example.com",
    "CORS_ORIGINS": "https://app.example.com",
    "CRON_SECRET": "6f1c0e9a4b7d2f83a5c1e0b94d7f26a8",
    "PASSWORD_ARGON2_MEMORY_COST": "19456",
    "PASSWORD_ARGON2_TIME_COST": "2",
    "PASSWORD_MIN_LENGTH": "8",
}
PLATFORM_VARIABLES = ("VERCEL", "VERCEL_ENV", "AWS_LAMBDA_FUNCTION_NAME")


def load_settings(monkeypatch: pytest.MonkeyPatch, **values: str | None) -> Settings:
    """`get_settings()` with `values` in the environment (None: unset); raises its ConfigError."""
    for name in (*PLATFORM_VARIABLES, *AWS_CREDENTIAL_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        return get_settings()
    finally:
        get_settings.cache_clear()


# Loopback (and unspecified) addresses as resolvers and browsers also read them.
LOOPBACK_SPELLINGS = [
    "127.1",
    "127.0.1",
    "2130706433",
    "0x7f.1",
    "0x7f000001",
    "0177.0.0.1",
    "0",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",
    "[64:ff9b::127.0.0.1]",
    "[2002:7f00:1::]",
    "[0:0:0:0:0:0:0:1]",
    "[::]",
    "localhost.",
    "LOCALHOST",
    "localhost.localdomain",
    "127.0.0.1.",
    "%31%32%37.0.0.1",
    "\uff11\uff12\uff17\u3002\uff10\u3002\uff10\u3002\uff11",
    "auth.localhost.",
]

REFUSALS = [
    ({"RSA_PRIVATE_KEY_CONTENT": ""}, "RSA_PRIVATE_KEY_CONTENT"),
    ({"MFA_ENCRYPTION_KEY": None}, "MFA_ENCRYPTION_KEY"),
    ({"DATABASE_URL": "sqlite+aiosqlite:///./auth.db"}, "DATABASE_URL"),
    ({"DATABASE_URL": None}, "DATABASE_URL"),
    ({"DEBUG": "true"}, "DEBUG"),
    ({"EMAIL_BACKEND": "console"}, "EMAIL_BACKEND"),
    ({"SMTP_HOST": ""}, "SMTP_HOST"),
    ({"SMTP_PASSWORD": ""}, "SMTP_PASSWORD"),
    ({"EMAIL_BACKEND": "ses"}, "AWS_ACCESS_KEY_ID"),
    ({"JWT_ISSUER": None}, "JWT_ISSUER"),
    ({"JWT_ISSUER": "http://auth.example.com"}, "JWT_ISSUER"),
    ({"JWT_ISSUER": "https://localhost"}, "JWT_ISSUER"),
    ({"JWT_ISSUER": "https://127.0.0.2:8443"}, "JWT_ISSUER"),
    ({"JWT_ISSUER": "https://[::1]"}, "JWT_ISSUER"),
    ({"JWT_ISSUER": "auth.example.com"}, "JWT_ISSUER"),
    ({"FRONTEND_URL": None}, "FRONTEND_URL"),
    ({"FRONTEND_URL": "http://app.example.com"}, "FRONTEND_URL"),
    ({"FRONTEND_URL": "https://127.0.0.1"}, "FRONTEND_URL"),
    ({"FRONTEND_URL": "https://app.localhost"}, "FRONTEND_URL"),
    *(({name: f"https://{host}"}, name) for name in ("JWT_ISSUER", "FRONTEND_URL") for host in LOOPBACK_SPELLINGS),
    ({"CORS_ORIGINS": "*"}, "CORS_ORIGINS"),
    ({"CORS_ORIGINS": "https://app.example.com,*"}, "CORS_ORIGINS"),
    ({"CORS_ORIGINS": '["https://*.example.com"]'}, "CORS_ORIGINS"),
    ({"CRON_SECRET": None}, "CRON_SECRET"),
    ({"CRON_SECRET": "x"}, "CRON_SECRET"),
    ({"CRON_SECRET": "c" * 31}, "CRON_SECRET"),
    # Low variety: one character repeated, few distinct ones, one short piece repeated.
    ({"CRON_SECRET": "c" * 32}, "CRON_SECRET"),
    ({"CRON_SECRET": "ab" * 32}, "CRON_SECRET"),
    ({"CRON_SECRET": "0101001110100101110100101001011101"}, "CRON_SECRET"),
    ({"CRON_SECRET": "secret12" * 4}, "CRON_SECRET"),
    ({"CRON_SECRET": "correct-horse-9" * 3}, "CRON_SECRET"),
    ({"DATABASE_URL": "postgres://u:p@db.example.com/auth?sslmode=disable"}, "DATABASE_URL"),
    ({"DATABASE_URL": "postgresql+asyncpg://u:p@10.0.0.5/auth?ssl=disable"}, "DATABASE_URL"),
    # A remote database without sslmode (asyncpg then prefers, not requires, TLS) or weaker than require.
    ({"DATABASE_URL": "postgresql://u:p@db.example.com/auth"}, "DATABASE_URL"),
    ({"DATABASE_URL": "postgresql://u:p@db.example.com/auth?sslmode=allow"}, "DATABASE_URL"),
    ({"DATABASE_URL": "postgresql://u:p@db.example.com/auth?sslmode=prefer"}, "DATABASE_URL"),
    ({"DATABASE_URL": "postgresql+asyncpg://u:p@db.example.com/auth?ssl=prefer"}, "DATABASE_URL"),
    ({"DATABASE_URL": "postgresql://u:p@db.example.com/auth?sslmode=require&sslmode=disable"}, "DATABASE_URL"),
    ({"DATABASE_URL": "postgresql://u:p@db.example.com/auth?sslmode=require&ssl=allow"}, "DATABASE_URL"),
    ({"DATABASE_URL": "postgresql://u:p@127.0.0.1,db.example.com/auth?sslmode=disable"}, "DATABASE_URL"),
    ({"DATABASE_URL": "postgresql://u:p@/auth?host=db.example.com&sslmode=disable"}, "DATABASE_URL"),
    ({"DATABASE_URL": "postgresql://u:p@[2001:db8::5]:5432/auth?sslmode=prefer"}, "DATABASE_URL"),
    # Plain SMTP with a password to another host.
    ({"SMTP_USE_TLS": "false"}, "SMTP_USE_TLS"),
    ({"SMTP_USE_TLS": "false", "SMTP_HOST": "10.0.0.25"}, "SMTP_USE_TLS"),
    # `null` is the origin of sandboxed frames and file:// pages: anyone can send it.
    ({"CORS_ORIGINS": "https://app.example.com,null"}, "CORS_ORIGINS"),
    ({"CORS_ORIGINS": '["null"]'}, "CORS_ORIGINS"),
    ({"CORS_ORIGINS": "NULL"}, "CORS_ORIGINS"),
    ({"PASSWORD_ARGON2_MEMORY_COST": "1024"}, "PASSWORD_ARGON2_MEMORY_COST"),
    ({"PASSWORD_ARGON2_MEMORY_COST": "19455"}, "PASSWORD_ARGON2_MEMORY_COST"),
    ({"PASSWORD_ARGON2_TIME_COST": "1"}, "PASSWORD_ARGON2_TIME_COST"),
    ({"PASSWORD_MIN_LENGTH": "4"}, "PASSWORD_MIN_LENGTH"),
    ({"WEBAUTHN_RP_ID": "example.org"}, "WEBAUTHN_RP_ID"),
    ({"WEBAUTHN_RP_ID": "pp.example.com"}, "WEBAUTHN_RP_ID"),
    ({"WEBAUTHN_RP_ID": "com"}, "WEBAUTHN_RP_ID"),
    (
        {"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "https://app.example.com,https://other.net"},
        "WEBAUTHN_RP_ID",
    ),
    ({"WEBAUTHN_ORIGINS": "http://app.example.com"}, "WEBAUTHN_ORIGINS"),
    ({"WEBAUTHN_RP_ID": "localhost", "WEBAUTHN_ORIGINS": "https://localhost"}, "WEBAUTHN_ORIGINS"),
]


@pytest.mark.parametrize(("overrides", "named"), REFUSALS)
def test_production_refuses_unsafe_settings_with_one_line(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, str | None], named: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(monkeypatch, **{**SAFE_PRODUCTION, **overrides})
    message = str(error.value)
    assert message.startswith(named), message
    assert "\n" not in message
    for secret in ("smtp password", "c" * 31, SAFE_PRODUCTION["MFA_ENCRYPTION_KEY"]):
        assert secret not in message


@pytest.mark.parametrize(("overrides", "_named"), REFUSALS)
def test_development_accepts_what_production_refuses(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, str | None], _named: str
) -> None:
    values = {**SAFE_PRODUCTION, **overrides, "ENVIRONMENT": "development"}
    assert load_settings(monkeypatch, **values).ENVIRONMENT == "development"


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"DATABASE_URL": "postgres://u:p@127.0.0.1:6432/auth?sslmode=disable"},
        {"DATABASE_URL": "postgresql://u:p@localhost/auth?sslmode=disable"},
        {"DATABASE_URL": "postgresql://u:p@db.example.com/auth?sslmode=verify-full"},
        {"DATABASE_URL": "postgresql://u:p@db.example.com/auth?sslmode=verify-ca"},
        {"DATABASE_URL": "postgresql+asyncpg://u:p@db.example.com/auth?ssl=require"},
        {"DATABASE_URL": "postgresql://u:p@[::1]:5432/auth?sslmode=disable"},
        {"DATABASE_URL": "postgresql://u:p@127.1:6432/auth"},
        {"DATABASE_URL": "postgresql://u:p@/auth?host=/var/run/postgresql"},
        {"SMTP_USE_TLS": "false", "SMTP_HOST": "127.0.0.1"},
        {"SMTP_USE_TLS": "false", "SMTP_USER": "", "SMTP_PASSWORD": ""},
        {"JWT_ISSUER": "https://127.example.com"},
        {"JWT_ISSUER": "https://0x7f.example.com"},
        {"JWT_ISSUER": "https://[2001:db8::1]"},  # FRONTEND_URL may not be an IP: passkeys need a domain
        {"CORS_ORIGINS": "https://null.example.com"},
        {"CRON_SECRET": "Xk2vQ9mZ4tR7wB1nL8pF3sD6hJ0cG5yA"},
        {"EMAIL_BACKEND": "ses", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"},
        {"EMAIL_BACKEND": "ses", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials"},
        {"SMTP_USER": "", "SMTP_PASSWORD": ""},
        {"PASSWORD_ARGON2_MEMORY_COST": "65536", "PASSWORD_ARGON2_TIME_COST": "3", "PASSWORD_MIN_LENGTH": "12"},
        {"JWT_ISSUER": "https://auth.example.com/tenant/"},
        {"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "https://app.example.com,https://www.example.com"},
        {"WEBAUTHN_RP_ID": "app.example.com"},
    ],
)
def test_production_with_safe_settings_starts(monkeypatch: pytest.MonkeyPatch, overrides: dict[str, str]) -> None:
    assert load_settings(monkeypatch, **{**SAFE_PRODUCTION, **overrides}).ENVIRONMENT == "production"


@pytest.mark.parametrize(
    ("platform", "environment", "expected"),
    [
        ({}, None, "development"),
        ({"VERCEL_ENV": "production"}, None, "production"),
        ({"VERCEL_ENV": "preview"}, None, "production"),
        ({"AWS_LAMBDA_FUNCTION_NAME": "auth-service-prod-login"}, None, "production"),
        ({"AWS_LAMBDA_FUNCTION_NAME": "auth-service-prod-login"}, "", "production"),
        ({"VERCEL_ENV": "development"}, "development", "development"),
        ({"AWS_LAMBDA_FUNCTION_NAME": "auth-service-dev-login"}, "development", "development"),
        ({}, "production", "production"),
    ],
)
def test_a_deployed_function_is_production_unless_development_is_explicit(
    monkeypatch: pytest.MonkeyPatch, platform: dict[str, str], environment: str | None, expected: str
) -> None:
    settings = load_settings(monkeypatch, **{**SAFE_PRODUCTION, "ENVIRONMENT": environment, **platform})
    assert settings.ENVIRONMENT == expected


@pytest.mark.parametrize("platform", [{"VERCEL_ENV": "production"}, {"AWS_LAMBDA_FUNCTION_NAME": "f"}])
def test_a_deployed_function_without_environment_gets_the_production_checks(
    monkeypatch: pytest.MonkeyPatch, platform: dict[str, str]
) -> None:
    with pytest.raises(ConfigError, match=r"^DATABASE_URL"):
        load_settings(monkeypatch, **{**SAFE_PRODUCTION, "ENVIRONMENT": None, "DATABASE_URL": None, **platform})


@pytest.mark.parametrize("key", ["not-a-key", "c" * 44, Fernet.generate_key().decode()[:-2]])
def test_mfa_encryption_key_must_be_a_fernet_key(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(monkeypatch, ENVIRONMENT="development", MFA_ENCRYPTION_KEY=key)
    assert str(error.value).startswith("MFA_ENCRYPTION_KEY")
    assert key not in str(error.value)


def test_mfa_encryption_key_accepts_what_fernet_generates(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key().decode()
    assert load_settings(monkeypatch, ENVIRONMENT="development", MFA_ENCRYPTION_KEY=key).MFA_ENCRYPTION_KEY == key


@pytest.mark.parametrize(
    ("seconds", "lifetime"),
    [(None, 15 * 60), ("", 15 * 60), ("5", 5)],
)
def test_access_token_lifetime_in_seconds_overrides_minutes(
    monkeypatch: pytest.MonkeyPatch, seconds: str | None, lifetime: int
) -> None:
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "15")
    if seconds is None:
        monkeypatch.delenv("ACCESS_TOKEN_EXPIRE_SECONDS", raising=False)
    else:
        monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_SECONDS", seconds)
    assert Settings(_env_file=None).access_token_lifetime_seconds == lifetime


@pytest.mark.parametrize("seconds", ["0", "-3", "soon"])
def test_access_token_lifetime_in_seconds_must_be_positive(monkeypatch: pytest.MonkeyPatch, seconds: str) -> None:
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_SECONDS", seconds)
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="ACCESS_TOKEN_EXPIRE_SECONDS"):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_env_example_documents_every_setting_with_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    documented = [name for name, _value in dotenv_values(example).items()]
    assert sorted(documented) == sorted(Settings.model_fields), "every setting, each once"
    assert len(documented) == len(set(documented))

    for name in (*Settings.model_fields, *PLATFORM_VARIABLES, "HOST", "PORT"):
        monkeypatch.delenv(name, raising=False)
    assert Settings(_env_file=str(example)).model_dump() == Settings(_env_file=None).model_dump()


@pytest.mark.parametrize("client_id", ["has space", "a" * 129, 'quote"d', "é"])
def test_default_client_id_must_be_a_plain_client_id(monkeypatch: pytest.MonkeyPatch, client_id: str) -> None:
    with pytest.raises(ConfigError, match=r"^DEFAULT_CLIENT_ID: must be 1 to 128 of letters, digits"):
        load_settings(monkeypatch, ENVIRONMENT="development", DEFAULT_CLIENT_ID=client_id)


def test_default_client_id_accepts_urls_and_uuids(monkeypatch: pytest.MonkeyPatch) -> None:
    for client_id in ("https://app.example.com/client", "7c9e6679-7425-40de-944b-e07fc1f90ae7"):
        assert load_settings(monkeypatch, ENVIRONMENT="development", DEFAULT_CLIENT_ID=client_id).DEFAULT_CLIENT_ID == (
            client_id
        )


@pytest.mark.parametrize(
    ("frontend_url", "rp_id", "origins"),
    [
        ("https://app.example.com", "app.example.com", ["https://app.example.com"]),
        ("https://App.Example.com:443/welcome", "app.example.com", ["https://app.example.com"]),
        ("https://app.example.com:8443", "app.example.com", ["https://app.example.com:8443"]),
        ("http://127.0.0.1:8000", "localhost", ["http://localhost:8000"]),
        ("http://[::1]:5173", "localhost", ["http://localhost:5173"]),
        ("http://localhost:3000", "localhost", ["http://localhost:3000"]),
    ],
)
def test_the_relying_party_follows_frontend_url(
    monkeypatch: pytest.MonkeyPatch, frontend_url: str, rp_id: str, origins: list[str]
) -> None:
    settings = load_settings(
        monkeypatch, FRONTEND_URL=frontend_url, WEBAUTHN_RP_ID=None, WEBAUTHN_ORIGINS=None, WEBAUTHN_RP_NAME=None
    )
    assert (settings.WEBAUTHN_RP_ID, settings.WEBAUTHN_ORIGINS) == (rp_id, origins)
    assert settings.WEBAUTHN_RP_NAME == settings.APP_NAME


def test_passkey_settings_are_taken_as_given_and_origins_normalized(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(
        monkeypatch,
        WEBAUTHN_RP_ID="Example.com",
        WEBAUTHN_RP_NAME="Example",
        WEBAUTHN_ORIGINS="https://App.example.com:443/, https://www.example.com",
    )
    assert settings.WEBAUTHN_RP_ID == "example.com"
    assert settings.WEBAUTHN_RP_NAME == "Example"
    assert settings.WEBAUTHN_ORIGINS == ["https://app.example.com", "https://www.example.com"]


@pytest.mark.parametrize("origin", ["app.example.com", "ftp://app.example.com", "https://app.example.com/path"])
def test_an_origin_that_is_not_one_is_refused_everywhere(monkeypatch: pytest.MonkeyPatch, origin: str) -> None:
    with pytest.raises(ConfigError, match="WEBAUTHN_ORIGINS"):
        load_settings(monkeypatch, WEBAUTHN_ORIGINS=origin)
