"""What MFA keeps at rest: TOTP secrets encrypted with `MFA_ENCRYPTION_KEY` (Fernet), and
recovery codes only as keyed digests. A database dump alone yields neither."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken

from lib.config import get_settings
from lib.errors import MfaUnavailable

RECOVERY_CODE_COUNT = 10
_RECOVERY_CODE_CHARS = 10  # 50 random bits, shown as two groups of five


@lru_cache
def _fernet(key: str) -> Fernet:
    return Fernet(key)


def _key() -> str:
    key = get_settings().MFA_ENCRYPTION_KEY
    if not key:
        raise MfaUnavailable()
    return key


def encrypt_secret(secret: str) -> str:
    return _fernet(_key()).encrypt(secret.encode("ascii")).decode("ascii")


def decrypt_secret(token: str) -> str | None:
    """The TOTP secret, or None when it was encrypted under another key (then no code matches)."""
    try:
        return _fernet(_key()).decrypt(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        return None


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = base64.b32encode(secrets.token_bytes(8)).decode("ascii").lower()[:_RECOVERY_CODE_CHARS]
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalize_code(code: str) -> str:
    """A code as typed, without spaces or dashes, in lower case."""
    return "".join(char for char in code if char not in " -\t").lower()


def recovery_code_digest(code: str) -> str:
    """HMAC-SHA256 of the normalized code under a key derived from `MFA_ENCRYPTION_KEY`: the
    codes are short enough that a plain hash could be brute-forced from a dump."""
    mac_key = hashlib.sha256(b"mfa-recovery-code:" + _key().encode("ascii")).digest()
    return hmac.new(mac_key, normalize_code(code).encode("utf-8"), hashlib.sha256).hexdigest()
