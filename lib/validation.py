"""Field types shared by the request schemas."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, WithJsonSchema
from pydantic.networks import validate_email
from pydantic_core import PydanticCustomError

# Unicode categories a name never needs: controls (Cc: newline, tab, escape, C1), format characters
# (Cf: bidi overrides and isolates, zero-width characters) and line and paragraph separators.
_REFUSED_IN_NAMES = {"Cc", "Cf", "Zl", "Zp"}


def storable_text(value: str) -> str:
    """Text both databases can store and every hasher can encode: no NUL, no lone surrogates."""
    if "\x00" in value:
        raise PydanticCustomError("string_nul_character", "Text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("string_not_utf8", "Text must be valid Unicode") from None
    return value


def plain_name(value: Any) -> Any:
    """Refuse control, bidi and other invisible characters anywhere in a name (before any trimming):
    a name is rendered into emails and pages, where a newline or a right-to-left override forges text."""
    if not isinstance(value, str) or "\x00" in value:
        return value  # not text, or NUL: refused as such by the validators that follow
    for character in value:
        if unicodedata.category(character) in _REFUSED_IN_NAMES:
            raise PydanticCustomError(
                "name_invalid_character",
                "Names must not contain control or formatting characters (found {character})",
                {"character": f"U+{ord(character):04X}"},
            )
    return value


def normalize_email(value: str, *, strict: bool = True) -> str:
    """The one form an address is stored and looked up in: email-validator's normalisation
    (NFC, IDNA domain in its Unicode form), lower-cased.

    An invalid address raises pydantic's `value_error`, unless `strict` is false: then it is
    only NFC-normalised and lower-cased (a look-up that can match nothing, not an error).
    """
    try:
        _name, address = validate_email(value.strip())
    except PydanticCustomError:
        if strict:
            raise
        address = value.strip()
    return unicodedata.normalize("NFC", address.lower())


Text = Annotated[str, AfterValidator(storable_text)]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=100),
    BeforeValidator(plain_name),
    AfterValidator(storable_text),
]
EmailAddress = Annotated[
    str,
    Field(max_length=320),
    AfterValidator(storable_text),
    AfterValidator(normalize_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 320}),
]
