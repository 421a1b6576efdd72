"""Password rules (OWASP ASVS 2.1, NIST 800-63B 5.1.1): length bounds, nothing built from the
account's own names, and no password from a list of common ones. No composition rules: any
character counts, spaces and emoji included.

Each broken rule raises `PydanticCustomError` whose type names the rule, so that FastAPI's
422 body says why (e.g. `password_too_common`). Call `check_password` from the validator of
every schema that sets a password (sign-up, change, reset).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from lib.config import get_settings
from lib.validation import storable_text

MIN_NAME_LENGTH = 3  # shorter local parts ("me@...") would forbid too many good passwords


@lru_cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords from zxcvbn's offline frequency lists (lower case).

    Loaded on first use, in the functions that set passwords only. The list module is
    loaded on its own (~40 ms) rather than through the `zxcvbn` package, whose import
    also builds every ranked dictionary (~170 ms).
    """
    spec = importlib.util.find_spec("zxcvbn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the zxcvbn package (common-password list) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "frequency_lists.py"
    module_spec = importlib.util.spec_from_file_location("_zxcvbn_frequency_lists", path)
    if module_spec is None or module_spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    passwords = module.FREQUENCY_LISTS["passwords"]
    if isinstance(passwords, str):
        passwords = passwords.split(",")
    return frozenset(password.casefold() for password in passwords)


def _local_part(email: str) -> str:
    return email.rpartition("@")[0] if "@" in email else email


def check_password(password: str, *, email: str | None = None, username: str | None = None) -> str:
    """Return `password` unchanged when it satisfies the policy, else raise `PydanticCustomError`."""
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
    if username and len(username) >= MIN_NAME_LENGTH and username.casefold() in lowered:
        raise PydanticCustomError("password_contains_username", "Password must not contain the username")
    local_part = _local_part(email or "")
    if len(local_part) >= MIN_NAME_LENGTH and local_part.casefold() in lowered:
        raise PydanticCustomError("password_contains_email", "Password must not contain the email address")
    if lowered in common_passwords():
        raise PydanticCustomError("password_too_common", "Password is too common; choose a less predictable one")
    return password


class PasswordRejected(Exception):
    """A password set outside a schema (change, reset) breaks a rule. `lib.app` renders it as
    the same 422 body FastAPI gives a schema's broken rule, naming `field`."""

    def __init__(self, rule: PydanticCustomError, *, field: str) -> None:
        super().__init__(rule.message())
        self.rule = rule
        self.field = field

    def errors(self) -> list[dict[str, Any]]:
        error: dict[str, Any] = {"type": self.rule.type, "loc": ("body", self.field), "msg": str(self), "input": None}
        if self.rule.context:
            error["ctx"] = self.rule.context
        return [error]


def require_acceptable_password(password: str, *, email: str, username: str, field: str = "new_password") -> None:
    """`check_password` for a password set outside a schema (change, reset): `PasswordRejected`."""
    try:
        check_password(password, email=email, username=username)
    except PydanticCustomError as exc:
        raise PasswordRejected(exc, field=field) from None


# A password a request sets where the account's names are checked later (change, reset):
# storable text, then every rule that needs nothing but the password itself.
NewPassword = Annotated[str, AfterValidator(storable_text), AfterValidator(check_password)]
