from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, computed_field, field_validator
from pydantic_core import PydanticCustomError

from lib.models import Role
from lib.security.password_policy import NewPassword
from lib.validation import Name, Text, storable_text

QUESTIONNAIRE_MAX_BYTES = 16 * 1024
# Far deeper than any questionnaire needs, far shallower than where serialisers give up (~255 levels).
QUESTIONNAIRE_MAX_DEPTH = 32
MAX_OFFSET = 2**31 - 1


def _empty_to_none(value: str | None) -> str | None:
    return value or None


def _strings(document: Any) -> Iterator[str]:
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _depth(document: Any) -> int:
    """How many objects and arrays deep `document` nests, counted without recursion."""
    deepest = 0
    stack = [(document, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > QUESTIONNAIRE_MAX_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def _check_questionnaire(document: dict[str, Any]) -> dict[str, Any]:
    if _depth(document) > QUESTIONNAIRE_MAX_DEPTH:
        raise PydanticCustomError(
            "questionnaire_too_deep",
            "Background questionnaire must nest at most {max_depth} objects or arrays deep",
            {"max_depth": QUESTIONNAIRE_MAX_DEPTH},
        )
    try:
        encoded = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        raise PydanticCustomError(
            "questionnaire_invalid", "Background questionnaire must be plain JSON (no NaN, valid Unicode)"
        ) from None
    if len(encoded) > QUESTIONNAIRE_MAX_BYTES:
        raise PydanticCustomError(
            "questionnaire_too_large",
            "Background questionnaire must be at most {max_bytes} bytes of JSON, not {size}",
            {"max_bytes": QUESTIONNAIRE_MAX_BYTES, "size": len(encoded)},
        )
    if any("\x00" in text for text in _strings(document)):
        raise PydanticCustomError("string_nul_character", "Text must not contain NUL characters")
    return document


Questionnaire = Annotated[dict[str, Any], AfterValidator(_check_questionnaire)]


class UserPublic(BaseModel):
    """What any client may see of an account: never a hash or a token."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    username: str
    first_name: str | None
    last_name: str | None
    full_name: str | None
    role: str
    is_active: bool
    is_verified: bool
    mfa_enabled: bool
    background_questionnaire: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sub(self) -> str:
        """The same value as `id`, under the name OpenID userinfo clients read."""
        return str(self.id)


class UserUpdate(BaseModel):
    """Profile fields the user may change; those left out stay as they are, `null` clears one."""

    model_config = ConfigDict(extra="forbid")

    first_name: Annotated[Name | None, AfterValidator(_empty_to_none)] = None
    last_name: Annotated[Name | None, AfterValidator(_empty_to_none)] = None
    background_questionnaire: Questionnaire | None = Field(
        default=None, description=f"A JSON object of at most {QUESTIONNAIRE_MAX_BYTES} bytes"
    )


class AdminUserUpdate(BaseModel):
    """What an admin may change on an account; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    is_active: bool | None = None
    is_verified: bool | None = None
    mfa_enabled: Literal[False] | None = Field(
        default=None, description="false turns the user's two-factor login off (it cannot be turned on here)"
    )

    @field_validator("role", "is_active", "is_verified", "mfa_enabled")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for values actually sent: an explicit null is a mistake, not "unchanged".
        if value is None:
            raise PydanticCustomError("null_not_allowed", "Leave the field out instead of sending null")
        return value


class ChangePasswordRequest(BaseModel):
    current_password: Text = Field(min_length=1, max_length=1024)
    new_password: NewPassword


class UserListQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    q: Annotated[str, StringConstraints(max_length=320), AfterValidator(storable_text)] | None = Field(
        default=None, description="Part of an email or username (any letter case)"
    )


class UserPage(BaseModel):
    items: list[UserPublic]
    total: int
    limit: int
    offset: int
