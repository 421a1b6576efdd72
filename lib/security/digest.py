"""Digests of tokens the database must recognise; the tokens themselves are never stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_opaque_token() -> str:
    """256 random bits, URL-safe: for links sent by email."""
    return secrets.token_urlsafe(32)


@lru_cache
def _identifier_key() -> bytes:
    from lib.security.keys import get_key_set

    private = get_key_set().signing_key.private_numbers().d
    return hashlib.sha256(b"identifier-digest:" + private.to_bytes((private.bit_length() + 7) // 8, "big")).digest()


def identifier_digest(identifier: str) -> str:
    """HMAC-SHA256 of a typed identifier (an email or username nobody has) under a key derived from
    the signing key: it tells whether two attempts typed the same thing, and nothing of what that
    was, even to someone who reads the database and can guess addresses."""
    return hmac.new(_identifier_key(), identifier.encode("utf-8"), hashlib.sha256).hexdigest()
