"""RS256 access and refresh tokens (RFC 9068 access-token profile, RFC 8725 checks).

Compact JWS with the parsed `cryptography` keys held for the life of the process:
a token costs one RSA operation and a little JSON, not a key parse or a generic
JOSE dispatch. Verification accepts one algorithm only, so there is nothing to
negotiate: the header must say RS256 and name one of our keys.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import (
    RSAPrivateKey,
    RSAPrivateNumbers,
    RSAPublicKey,
    RSAPublicNumbers,
)
from cryptography.hazmat.primitives.hashes import SHA256

from lib.config import get_settings
from lib.config_error import ConfigError
from lib.errors import InvalidToken, TokenExpired
from lib.security.der import KeyFormatError, rsa_private_numbers
from lib.security.keys import get_key_set

ALGORITHM = "RS256"
ACCESS_TYPE_HEADER = "at+jwt"
MAX_TOKEN_LENGTH = 8192
TokenType = Literal["access", "refresh"]

_PADDING = PKCS1v15()
_HASH = SHA256()
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_REQUIRED_CLAIMS = ("exp", "iat", "sub", "jti")


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    issued_at: int
    expires_at: int


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _b64decode(segment: str) -> bytes:
    padded = (segment + "=" * (-len(segment) % 4)).encode("ascii").translate(_FROM_URLSAFE)
    return binascii.a2b_base64(padded, strict_mode=True)


def _json_segment(value: dict[str, Any]) -> str:
    return _b64encode(json.dumps(value, separators=(",", ":")).encode("utf-8"))


@lru_cache
def _signing_key() -> RSAPrivateKey:
    try:
        n, e, d, p, q, dmp1, dmq1, iqmp = rsa_private_numbers(get_key_set().private_pem)
    except (KeyFormatError, ValueError) as exc:
        raise ConfigError(f"RSA private key: {exc}") from exc
    numbers = RSAPrivateNumbers(p, q, d, dmp1, dmq1, iqmp, RSAPublicNumbers(e, n))
    # Our own configured key: skipping the full RSA consistency check saves ~60 ms per cold start.
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


@lru_cache
def _verification_keys() -> dict[str, RSAPublicKey]:
    """Our key set by `kid`, built from the numbers `lib.security.keys` already read."""
    return {kid: RSAPublicNumbers(key.e, key.n).public_key() for kid, key in get_key_set().public_keys.items()}


def load_keys() -> None:
    """Parse the signing key and the key set now rather than during a first request."""
    _signing_key()
    _verification_keys()


@lru_cache
def _header_segment(kid: str, header_type: str) -> str:
    return _json_segment({"alg": ALGORITHM, "kid": kid, "typ": header_type})


def _encode(claims: dict[str, Any], header_type: str) -> str:
    signing_input = f"{_header_segment(get_key_set().signing_kid, header_type)}.{_json_segment(claims)}"
    signature = _signing_key().sign(signing_input.encode("ascii"), _PADDING, _HASH)
    return f"{signing_input}.{_b64encode(signature)}"


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


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# One decoder for every token: `json.loads` with options would build a new one per call.
_JSON = json.JSONDecoder(parse_constant=_no_constants)


def _json_object(segment: str) -> dict[str, Any]:
    try:
        value = _JSON.decode(_b64decode(segment).decode("utf-8"))
    except (binascii.Error, ValueError):
        raise InvalidToken() from None
    if not isinstance(value, dict):
        raise InvalidToken()
    return value


@lru_cache(maxsize=32)
def _header(segment: str) -> dict[str, Any]:
    """Parsed once per distinct header: our tokens carry one of a handful."""
    return _json_object(segment)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_claims(claims: dict[str, Any]) -> None:
    """`exp`, `nbf`, `iat`, `iss`, `aud`, `sub` and `jti`, with no leeway."""
    settings = get_settings()
    for name in _REQUIRED_CLAIMS:
        if name not in claims:
            raise InvalidToken(f"Token lacks the {name!r} claim")
    expires_at, not_before, issued_at = claims["exp"], claims.get("nbf"), claims["iat"]
    if (
        not _is_number(expires_at)
        or not _is_number(issued_at)
        or (not_before is not None and not _is_number(not_before))
    ):
        raise InvalidToken()
    now = time.time()
    if now >= expires_at:
        raise TokenExpired()
    if not_before is not None and now < not_before:
        raise InvalidToken("Token is not yet valid")
    if claims.get("iss") != settings.JWT_ISSUER:
        raise InvalidToken("Token issuer not accepted")
    audience = claims.get("aud")
    if audience != settings.JWT_AUDIENCE and not (isinstance(audience, list) and settings.JWT_AUDIENCE in audience):
        raise InvalidToken("Token audience not accepted")
    if not isinstance(claims["sub"], str) or not isinstance(claims["jti"], str):
        raise InvalidToken()


def decode_token(token: str, expected_type: TokenType) -> dict[str, Any]:
    """Verify algorithm, key id, signature, `exp`, `nbf`, `iss`, `aud`, `type` (and `typ` of access tokens).

    Raises `TokenExpired` or `InvalidToken`; never returns unverified claims.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH or not _COMPACT_JWS.fullmatch(token):
        raise InvalidToken()
    header_segment, payload_segment, signature_segment = token.split(".")
    header = _header(header_segment)
    if header.get("alg") != ALGORITHM:
        raise InvalidToken("Token algorithm not accepted")
    if "crit" in header:  # no header extensions are understood here, so none may be critical (RFC 7515 4.1.11)
        raise InvalidToken()
    kid = header.get("kid")
    key = _verification_keys().get(kid) if isinstance(kid, str) else None
    if key is None:
        raise InvalidToken("Token signed by an unknown key")
    try:
        key.verify(
            _b64decode(signature_segment), f"{header_segment}.{payload_segment}".encode("ascii"), _PADDING, _HASH
        )
    except (InvalidSignature, binascii.Error):
        raise InvalidToken() from None
    claims = _json_object(payload_segment)
    _check_claims(claims)
    if claims.get("type") != expected_type:
        raise InvalidToken(f"Not an {expected_type} token" if expected_type == "access" else "Not a refresh token")
    if expected_type == "access" and header.get("typ") != ACCESS_TYPE_HEADER:
        raise InvalidToken("Not an access token")
    if not isinstance(claims.get("sid"), str):
        raise InvalidToken()
    return claims
