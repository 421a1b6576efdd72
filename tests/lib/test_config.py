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
    "CRON_SECRET": "c" * 32,
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
    ({"CORS_ORIGINS": "*"}, "CORS_ORIGINS"),
    ({"CORS_ORIGINS": "https://app.example.com,*"}, "CORS_ORIGINS"),
    ({"CORS_ORIGINS": '["https://*.example.com"]'}, "CORS_ORIGINS"),
    ({"CRON_SECRET": None}, "CRON_SECRET"),
    ({"CRON_SECRET": "x"}, "CRON_SECRET"),
    ({"CRON_SECRET": "c" * 31}, "CRON_SECRET"),
    ({"DATABASE_URL": "postgres://u:p@db.example.com/auth?sslmode=disable"}, "DATABASE_URL"),
    ({"DATABASE_URL": "postgresql+asyncpg://u:p@10.0.0.5/auth?ssl=disable"}, "DATABASE_URL"),
    ({"PASSWORD_ARGON2_MEMORY_COST": "1024"}, "PASSWORD_ARGON2_MEMORY_COST"),
    ({"PASSWORD_ARGON2_MEMORY_COST": "19455"}, "PASSWORD_ARGON2_MEMORY_COST"),
    ({"PASSWORD_ARGON2_TIME_COST": "1"}, "PASSWORD_ARGON2_TIME_COST"),
    ({"PASSWORD_MIN_LENGTH": "4"}, "PASSWORD_MIN_LENGTH"),
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
        {"DATABASE_URL": "postgresql://u:p@db.example.com/auth"},
        {"EMAIL_BACKEND": "ses", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"},
        {"EMAIL_BACKEND": "ses", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials"},
        {"SMTP_USER": "", "SMTP_PASSWORD": ""},
        {"PASSWORD_ARGON2_MEMORY_COST": "65536", "PASSWORD_ARGON2_TIME_COST": "3", "PASSWORD_MIN_LENGTH": "12"},
        {"JWT_ISSUER": "https://auth.example.com/tenant/"},
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
