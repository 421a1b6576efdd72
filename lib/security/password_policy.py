"""Password rules (NIST 800-63B): length bounds and no password built from the account's names.

Each broken rule raises `PydanticCustomError` whose type names the rule, so that
FastAPI's 422 body says why (e.g. `password_too_short`).
"""

from __future__ import annotations

from pydantic_core import PydanticCustomError

from lib.config import get_settings


def check_password(password: str, *, email: str | None = None, username: str | None = None) -> str:
    settings = get_settings()
    if len(password) < settings.PASSWORD_MIN_LENGTH:
        raise PydanticCustomError(
            "password_too_short",
            "Password must be at least {min_length} characters",
            {"min_length": settings.PASSWORD_MIN_LENGTH},
        )
    if len(password) > settings.PASSWORD_MAX_LENGTH:
        raise PydanticCustomError(
            "password_too_long",
            "Password must be at most {max_length} characters",
            {"max_length": settings.PASSWORD_MAX_LENGTH},
        )
    lowered = password.casefold()
    if email and lowered == email.casefold():
        raise PydanticCustomError("password_matches_email", "Password must not be the email address")
    if username and lowered == username.casefold():
        raise PydanticCustomError("password_matches_username", "Password must not be the username")
    return password
