"""Field types shared by the request schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, StringConstraints
from pydantic_core import PydanticCustomError


def storable_text(value: str) -> str:
    """Text both databases can store and every hasher can encode: no NUL, no lone surrogates."""
    if "\x00" in value:
        raise PydanticCustomError("string_nul_character", "Text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("string_not_utf8", "Text must be valid Unicode") from None
    return value


Text = Annotated[str, AfterValidator(storable_text)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), AfterValidator(storable_text)]
