"""Challenges of the WebAuthn ceremonies, kept in the database: a function keeps no memory
between the options request and the response that answers them.

A challenge is random, lives five minutes, is bound to its ceremony and (for a registration)
to the user, and is used once. It is stored by its SHA-256 only; the second request finds it by
the challenge inside `clientDataJSON`. Using it is one conditional DELETE, so of parallel
requests carrying one challenge exactly one gets it.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta
from typing import Literal

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.models import WebAuthnChallenge, utcnow

Ceremony = Literal["registration", "authentication"]
CHALLENGE_LIFETIME_SECONDS = 300
CHALLENGE_BYTES = 32


def challenge_id(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


async def new_challenge(session: AsyncSession, *, ceremony: Ceremony, user_id: uuid.UUID | None = None) -> bytes:
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    session.add(
        WebAuthnChallenge(
            id=challenge_id(challenge),
            ceremony=ceremony,
            user_id=user_id,
            expires_at=utcnow() + timedelta(seconds=CHALLENGE_LIFETIME_SECONDS),
        )
    )
    await session.flush()
    return challenge


async def use_challenge(
    session: AsyncSession, *, challenge: bytes, ceremony: Ceremony, user_id: uuid.UUID | None = None
) -> bool:
    """Whether `challenge` was handed out for this ceremony (and user), is unexpired and unused;
    it is used up by this call."""
    statement = delete(WebAuthnChallenge).where(
        col(WebAuthnChallenge.id) == challenge_id(challenge),
        col(WebAuthnChallenge.ceremony) == ceremony,
        col(WebAuthnChallenge.expires_at) > utcnow(),
    )
    if user_id is not None:
        statement = statement.where(col(WebAuthnChallenge.user_id) == user_id)
    used = await session.execute(statement.returning(col(WebAuthnChallenge.id)))
    return used.first() is not None
