"""Settings, read once per process from the environment and an optional `.env` file."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from lib.config_error import ConfigError
from lib.env import DEFAULT_JWT_ISSUER, env_file
from lib.oauth.client_id import CLIENT_ID_RULE, is_client_id
from lib.passkeys.relying_party import default_relying_party, normalize_origin
from lib.production import deployed, production_problems

CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    # An empty value (`NAME=` in .env, or `${env:NAME, ''}` in serverless.yml) means the default.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True, env_ignore_empty=True)

    APP_NAME: str = "Auth Service"
    APP_VERSION: str = "1.0.0"
    # Unset: production in a deployed function (VERCEL_ENV, AWS_LAMBDA_FUNCTION_NAME), else development.
    ENVIRONMENT: Literal["development", "production"] = "development"
    DEBUG: bool = False

    DATABASE_URL: str = "sqlite+aiosqlite:///./auth.db"
    DATABASE_USE_NULL_POOL: bool = True
    DATABASE_POOL_SIZE: int = 5
    DATABASE_MAX_OVERFLOW: int = 10
    DATABASE_POOL_RECYCLE: int = 300
    DATABASE_CONNECT_TIMEOUT: float = 5.0
    # A statement waiting longer fails (503): behind a pooler whose server is down, queries
    # would otherwise wait in its queue for minutes instead of answering.
    DATABASE_COMMAND_TIMEOUT: float = 10.0

    RSA_PRIVATE_KEY_CONTENT: str | None = None
    RSA_PRIVATE_KEY_PATH: str | None = None
    RSA_PUBLIC_KEY_ID: str | None = None
    RSA_PREVIOUS_PUBLIC_KEYS: CommaList = []
    # Encrypts TOTP secrets at rest: a Fernet key (`Fernet.generate_key()`).
    MFA_ENCRYPTION_KEY: str | None = None

    JWT_ISSUER: str = DEFAULT_JWT_ISSUER
    JWT_AUDIENCE: str = "auth-service"
    # The access tokens' `client_id` (RFC 9068) when a token request names no client.
    DEFAULT_CLIENT_ID: str = "default-client"
    ACCESS_TOKEN_EXPIRE_MINUTES: int = 15
    # Seconds-level lifetime for tests and demos of token expiry; overrides the minutes when set.
    ACCESS_TOKEN_EXPIRE_SECONDS: Annotated[int | None, Field(ge=1)] = None
    REFRESH_TOKEN_EXPIRE_DAYS: int = 7
    SINGLE_SESSION: bool = True
    # Without SINGLE_SESSION: live sessions per user; a new one ends the least recently used.
    MAX_SESSIONS_PER_USER: int = Field(default=20, ge=1)
    # The immediately previous refresh token, presented again this soon after its rotation (a
    # retry, a second tab), gets a pair in the same session instead of counting as reuse. 0: strict.
    REFRESH_REUSE_GRACE_SECONDS: int = Field(default=10, ge=0)
    REQUIRE_VERIFIED_EMAIL: bool = False
    RESET_TOKEN_EXPIRE_MINUTES: int = 60
    VERIFY_TOKEN_EXPIRE_HOURS: int = 48

    PASSWORD_ARGON2_TIME_COST: int = 3
    PASSWORD_ARGON2_MEMORY_COST: int = 65536
    PASSWORD_ARGON2_PARALLELISM: int = 4
    PASSWORD_MIN_LENGTH: int = 8
    PASSWORD_MAX_LENGTH: int = 128

    LOGIN_MAX_FAILURES: int = 5
    LOGIN_FAILURE_WINDOW_SECONDS: int = 900
    # Per client address, across accounts: high enough for an office or a mobile carrier's NAT.
    LOGIN_MAX_FAILURES_PER_IP: int = 100
    SIGNUP_MAX_PER_IP: int = 50
    FORGOT_PASSWORD_MAX_PER_IP: int = 20
    VERIFY_RESEND_MAX_PER_IP: int = 20
    ADDRESS_LIMIT_WINDOW_SECONDS: int = 3600
    TRUSTED_IP_HEADER: str | None = None
    EMAIL_THROTTLE_SECONDS: int = 60

    # Security events older than this are removed by the scheduled clean-up.
    SECURITY_EVENT_RETENTION_DAYS: int = Field(default=90, ge=1)

    CRON_SECRET: str | None = None
    MAX_REQUEST_BODY_BYTES: int = 65536

    EMAIL_BACKEND: Literal["console", "smtp", "ses"] = "console"
    SMTP_HOST: str | None = None
    SMTP_PORT: int = 587
    SMTP_USER: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_SENDER_EMAIL: str = "no-reply@example.com"
    # TLS: implicit on port 465, STARTTLS on any other port; false: plain SMTP (local sinks).
    SMTP_USE_TLS: bool = True
    SMTP_TIMEOUT: float = 10.0
    AWS_REGION: str = "us-east-1"
    # Emails leave through the outbox (lib.email.outbox): on Lambda their ids go to this SQS queue
    # and the mailer function sends them. A failed email is retried after EMAIL_RETRY_BASE_SECONDS,
    # then five times longer each time, and given up after EMAIL_MAX_ATTEMPTS tries.
    EMAIL_QUEUE_URL: str | None = None
    EMAIL_RETRY_BASE_SECONDS: int = Field(default=60, ge=0)
    EMAIL_MAX_ATTEMPTS: int = Field(default=8, ge=1)
    FRONTEND_URL: str = DEFAULT_JWT_ISSUER

    CORS_ORIGINS: CommaList = ["http://localhost:3000", "http://127.0.0.1:8000"]
    CORS_ALLOW_CREDENTIALS: bool = True
    CORS_ALLOW_METHODS: CommaList = ["GET", "POST", "PATCH", "DELETE", "OPTIONS"]
    CORS_ALLOW_HEADERS: CommaList = ["Authorization", "Content-Type", "X-Refresh-Token-Transport"]
    # The refresh cookie's SameSite (browser sessions): `lax` when page and API share a site
    # (app.example.com and auth.example.com), `none` only for a page on another site.
    REFRESH_COOKIE_SAMESITE: Literal["lax", "strict", "none"] = "lax"

    # Passkeys (WebAuthn). Unset: the host and origin of FRONTEND_URL (`localhost` and
    # `http://localhost:<port>` for a loopback FRONTEND_URL, since browsers refuse an IP as RP id).
    WEBAUTHN_RP_ID: str | None = None
    WEBAUTHN_RP_NAME: str | None = None  # unset: APP_NAME
    WEBAUTHN_ORIGINS: CommaList = []

    @property
    def access_token_lifetime_seconds(self) -> int:
        return self.ACCESS_TOKEN_EXPIRE_SECONDS or self.ACCESS_TOKEN_EXPIRE_MINUTES * 60

    @field_validator("ACCESS_TOKEN_EXPIRE_SECONDS", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "RSA_PREVIOUS_PUBLIC_KEYS",
        "CORS_ORIGINS",
        "CORS_ALLOW_METHODS",
        "CORS_ALLOW_HEADERS",
        "WEBAUTHN_ORIGINS",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]

    @field_validator("DEFAULT_CLIENT_ID")
    @classmethod
    def _client_id(cls, value: str) -> str:
        if not is_client_id(value):
            raise ValueError(f"must be {CLIENT_ID_RULE}")
        return value

    @field_validator("REFRESH_COOKIE_SAMESITE", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("MFA_ENCRYPTION_KEY", mode="before")
    @classmethod
    def _fernet_key(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str):
            from cryptography.fernet import Fernet

            try:
                Fernet(value.strip())
            except ValueError:
                raise ValueError("must be a Fernet key: 32 bytes in urlsafe base64 (Fernet.generate_key())") from None
            return value.strip()
        return value

    @model_validator(mode="before")
    @classmethod
    def _deployed_is_production(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("ENVIRONMENT"):
            return {**data, "ENVIRONMENT": "production" if deployed() else "development"}
        return data

    @field_validator("WEBAUTHN_ORIGINS", mode="after")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [normalize_origin(origin) for origin in value]

    @model_validator(mode="after")
    def _relying_party(self) -> Settings:
        rp_id, origins = default_relying_party(self.FRONTEND_URL)
        self.WEBAUTHN_RP_ID = (self.WEBAUTHN_RP_ID or rp_id).strip().lower()
        self.WEBAUTHN_RP_NAME = self.WEBAUTHN_RP_NAME or self.APP_NAME
        self.WEBAUTHN_ORIGINS = self.WEBAUTHN_ORIGINS or origins
        return self

    @model_validator(mode="after")
    def _check_production(self) -> Settings:
        if self.REFRESH_COOKIE_SAMESITE == "none" and not self.CORS_ALLOW_CREDENTIALS:
            raise ValueError(
                "REFRESH_COOKIE_SAMESITE=none needs CORS_ALLOW_CREDENTIALS=true: a page on another site "
                "sends and receives the refresh cookie only with credentialed CORS"
            )
        if self.ENVIRONMENT == "production" and (problems := production_problems(self)):
            raise ValueError(problems[0])
        return self


@lru_cache
def get_settings() -> Settings:
    try:
        return Settings(_env_file=env_file())
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        message = error["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{where}: {message}" if error["loc"] else message) from None
