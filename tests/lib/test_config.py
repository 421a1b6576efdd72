from __future__ import annotations

import pytest

from lib.config import ConfigError, Settings, get_settings


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


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"RSA_PRIVATE_KEY_CONTENT": ""}, "RSA_PRIVATE_KEY_CONTENT"),
        ({"DATABASE_URL": "sqlite+aiosqlite:///./auth.db"}, "DATABASE_URL"),
        ({"DEBUG": "true"}, "DEBUG"),
        ({"EMAIL_BACKEND": "smtp", "SMTP_HOST": ""}, "SMTP_HOST"),
        (
            {"EMAIL_BACKEND": "smtp", "SMTP_HOST": "mail.example.com", "SMTP_USER": "u", "SMTP_PASSWORD": ""},
            "SMTP_PASSWORD",
        ),
        ({"CRON_SECRET": ""}, "CRON_SECRET"),
    ],
)
def test_production_refuses_unsafe_settings_with_one_line(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, str], named: str
) -> None:
    production = {
        "ENVIRONMENT": "production",
        "DATABASE_URL": "postgresql://u:p@db.example.com/auth",
        "DEBUG": "false",
        "CRON_SECRET": "s3cret",
        "EMAIL_BACKEND": "console",
    }
    for name, value in {**production, **overrides}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError) as error:
            get_settings()
    finally:
        get_settings.cache_clear()
    message = str(error.value)
    assert named in message
    assert "\n" not in message


def test_production_with_safe_settings_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "ENVIRONMENT": "production",
        "DATABASE_URL": "postgres://u:p@db.example.com/auth?sslmode=require",
        "CRON_SECRET": "s3cret",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        assert get_settings().ENVIRONMENT == "production"
    finally:
        get_settings.cache_clear()


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
