"""Digests of tokens the database must recognise; the tokens themselves are never stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_opaque_token() -> str:
    """256 random bits, URL-safe: for links sent by email."""
    return secrets.token_urlsafe(32)


def identifier_digest(identifier: str) -> str:
    """HMAC-SHA256 of a typed identifier (an email or username nobody has) under a key derived from
    the signing key: it tells whether two attempts typed the same thing, and nothing of what that
    was, even to someone who reads the database and can guess addresses."""
    from lib.security.keys import derived_secret

    return hmac.new(
        derived_secret("security event identifiers"), identifier.encode("utf-8"), hashlib.sha256
    ).hexdigest()
