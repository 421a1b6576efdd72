"""Password hashing: Argon2id for new hashes, bcrypt accepted for legacy ones."""

from __future__ import annotations

import base64
import os
import secrets
import threading
from collections.abc import Callable
from functools import lru_cache

import anyio.to_thread
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

from lib.config import get_settings
from lib.snapstart import after_restore


@lru_cache
def _password_hash() -> PasswordHash:
    settings = get_settings()
    argon2 = Argon2Hasher(
        time_cost=settings.PASSWORD_ARGON2_TIME_COST,
        memory_cost=settings.PASSWORD_ARGON2_MEMORY_COST,
        parallelism=settings.PASSWORD_ARGON2_PARALLELISM,
    )
    return PasswordHash((argon2, BcryptHasher()))


@lru_cache
def _dummy_hash() -> str:
    """A well-formed Argon2id hash with the current parameters that matches no password.

    Verifying it costs exactly what verifying a real hash costs, and building it
    costs nothing (no hashing at start-up).
    """
    settings = get_settings()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii").rstrip("=")

    return (
        f"$argon2id$v=19$m={settings.PASSWORD_ARGON2_MEMORY_COST},t={settings.PASSWORD_ARGON2_TIME_COST},"
        f"p={settings.PASSWORD_ARGON2_PARALLELISM}${b64(secrets.token_bytes(16))}${b64(secrets.token_bytes(32))}"
    )


@after_restore
def forget_dummy_hash() -> None:
    """Each restored copy draws its own dummy salt."""
    _dummy_hash.cache_clear()


@lru_cache
def _hashing_slots() -> threading.BoundedSemaphore:
    """How many hashes may run at once: about one per `parallelism` cores.

    Argon2 is CPU-bound and runs `parallelism` threads per hash. More hashes at once
    than the cores can take finish no sooner, and starve the event loop, so that the
    other requests' database connects time out.
    """
    lanes = get_settings().PASSWORD_ARGON2_PARALLELISM
    return threading.BoundedSemaphore(max(1, (os.cpu_count() or 1) // max(1, lanes)))


def _in_slot[T](operation: Callable[..., T], *args: str) -> T:
    with _hashing_slots():
        return operation(*args)


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_in_slot, _password_hash().hash, password)


async def verify_password(password: str, hashed: str | None) -> tuple[bool, str | None]:
    """Check `password`; return (valid, replacement hash or None).

    With `hashed=None` (no such user) a dummy hash is verified so that the answer
    takes as long as for a real account.
    """
    if hashed is None:
        await anyio.to_thread.run_sync(_in_slot, _password_hash().verify, password, _dummy_hash())
        return False, None
    try:
        return await anyio.to_thread.run_sync(_in_slot, _password_hash().verify_and_update, password, hashed)
    except Exception:  # an unrecognised or corrupt stored hash never authenticates
        return False, None


# Built at init (and so, with SnapStart, before the snapshot; each restored copy draws its own salt).
_password_hash()
_dummy_hash()
