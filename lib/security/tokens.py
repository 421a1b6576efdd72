"""RS256 access and refresh tokens (RFC 9068 access-token profile, RFC 8725 checks)."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.serialization import (
    load_pem_private_key,
    load_pem_public_key,
)
from jose import jwt
from jose.backends import RSAKey
from jose.exceptions import ExpiredSignatureError, JOSEError

from lib.config import get_settings
from lib.errors import InvalidToken, TokenExpired
from lib.security.keys import get_key_set

ALGORITHM = "RS256"
ACCESS_TYPE_HEADER = "at+jwt"
TokenType = Literal["access", "refresh"]


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    issued_at: int
    expires_at: int


@lru_cache
def _signing_key() -> RSAKey:
    pem = get_key_set().private_pem.encode("ascii")
    # Our own configured key: skipping the full RSA consistency check saves ~60 ms per cold start.
    private_key = load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(private_key, RSAPrivateKey):
        raise ValueError("the signing key is not an RSA key")
    return RSAKey(private_key, ALGORITHM)


@lru_cache
def _verification_keys() -> dict[str, RSAKey]:
    keys = {}
    key_set = get_key_set()
    for kid, public in key_set.public_keys.items():
        if public.pem is None:  # the current key
            keys[kid] = RSAKey(_signing_key().prepared_key.public_key(), ALGORITHM)
            continue
        loaded = load_pem_public_key(public.pem.encode("ascii"))
        if not isinstance(loaded, RSAPublicKey):
            raise ValueError(f"previous key {kid} is not an RSA key")
        keys[kid] = RSAKey(loaded, ALGORITHM)
    return keys


def _encode(claims: dict[str, Any], header_type: str) -> str:
    headers = {"kid": get_key_set().signing_kid, "typ": header_type}
    return jwt.encode(claims, _signing_key(), algorithm=ALGORITHM, headers=headers)


def create_access_token(*, user_id: uuid.UUID, role: str, session_id: uuid.UUID) -> IssuedToken:
    settings = get_settings()
    now = int(time.time())
    expires_at = now + settings.access_token_lifetime_seconds
    jti = secrets.token_urlsafe(16)
    claims = {
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "sub": str(user_id),
        "sid": str(session_id),
        "type": "access",
        "role": role,
        "iat": now,
        "exp": expires_at,
        "jti": jti,
    }
    return IssuedToken(_encode(claims, ACCESS_TYPE_HEADER), jti, now, expires_at)


def create_refresh_token(*, user_id: uuid.UUID, session_id: uuid.UUID, jti: uuid.UUID) -> IssuedToken:
    settings = get_settings()
    now = int(time.time())
    expires_at = now + settings.REFRESH_TOKEN_EXPIRE_DAYS * 86400
    claims = {
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "sub": str(user_id),
        "sid": str(session_id),
        "type": "refresh",
        "iat": now,
        "exp": expires_at,
        "jti": str(jti),
    }
    return IssuedToken(_encode(claims, "JWT"), str(jti), now, expires_at)


def decode_token(token: str, expected_type: TokenType) -> dict[str, Any]:
    """Verify signature, algorithm, key id, `exp`, `nbf`, `iss`, `aud` and `type`.

    Raises `TokenExpired` or `InvalidToken`; never returns unverified claims.
    """
    if not token or len(token) > 8192:
        raise InvalidToken()
    try:
        header = jwt.get_unverified_header(token)
    except JOSEError:
        raise InvalidToken() from None
    if header.get("alg") != ALGORITHM:
        raise InvalidToken("Token algorithm not accepted")
    key = _verification_keys().get(header.get("kid")) if isinstance(header.get("kid"), str) else None
    if key is None:
        raise InvalidToken("Token signed by an unknown key")
    settings = get_settings()
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
            options={
                "require_aud": True,
                "require_iss": True,
                "require_exp": True,
                "require_iat": True,
                "require_sub": True,
                "require_jti": True,
            },
        )
    except ExpiredSignatureError:
        raise TokenExpired() from None
    except JOSEError:
        raise InvalidToken() from None
    if claims.get("type") != expected_type:
        raise InvalidToken(f"Not an {expected_type} token" if expected_type == "access" else "Not a refresh token")
    if expected_type == "access" and header.get("typ") != ACCESS_TYPE_HEADER:
        raise InvalidToken("Not an access token")
    if not isinstance(claims.get("sid"), str):
        raise InvalidToken()
    return claims
