"""Digests of tokens the database must recognise; the tokens themselves are never stored."""

from __future__ import annotations

import hashlib
import secrets


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_opaque_token() -> str:
    """256 random bits, URL-safe: for links sent by email."""
    return secrets.token_urlsafe(32)
