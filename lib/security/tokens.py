"""RS256 access and refresh tokens (RFC 9068 access-token profile, RFC 8725 checks), with python-jose.

python-jose signs and verifies over the key objects that `lib.security.keys` parsed once per
process. Before python-jose sees a token, it must be three segments of canonical base64url:
python-jose decodes leniently, and a token must have exactly one accepted spelling.

Only access tokens carry the resource servers' audience (`JWT_AUDIENCE`). Refresh and MFA tokens
are for this service alone: their `aud` is the issuer, so a resource server that checks `aud`
but forgets `typ` still refuses them (RFC 8725 3.12). Tokens issued before that change carry
`JWT_AUDIENCE` and no `client_id`; such a refresh or MFA token is still accepted here until it
expires (at most 7 days): refusing it would sign everyone out, and accepting it exposes nothing
that its signature does not already, since its `type` still has to match.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jose import jwk, jwt
from jose.backends.base import Key
from jose.exceptions import ExpiredSignatureError, JOSEError

from lib.config import get_settings
from lib.errors import InvalidToken, TokenExpired
from lib.security.keys import get_key_set
from lib.snapstart import after_restore

ALGORITHM = "RS256"
ACCESS_TYPE_HEADER = "at+jwt"
MAX_TOKEN_LENGTH = 8192
MFA_TYPE_HEADER = "mfa+jwt"
TokenType = Literal["access", "refresh", "mfa"]
# RFC 8176 authentication method references: a password, then optionally a one-time code.
PASSWORD_ONLY: tuple[str, ...] = ("pwd",)
PASSWORD_AND_OTP: tuple[str, ...] = ("pwd", "otp")

# One canonical base64url segment: whole groups of four, then at most one group of two or three
# characters whose last one leaves the bits that encode no byte at zero (2 spare bits after three
# characters, 4 after two); never a lone leftover character, never padding.
_SEGMENT = r"(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{4}|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048]|[A-Za-z0-9_-][AQgw])"
_CANONICAL_JWS = re.compile(rf"{_SEGMENT}\.{_SEGMENT}\.{_SEGMENT}")
_OPTIONS = {
    "verify_aud": False,  # checked by `_audience_ok`, per token type (`require_aud` would turn it back on)
    "require_iss": True,
    "require_exp": True,
    "require_iat": True,
    "require_sub": True,
    "require_jti": True,
    "leeway": 0,
}
# What python-jose raises besides its own errors for hostile JSON: nesting deeper than the
# interpreter's recursion limit, and claims that its int() checks cannot convert (objects, 1e999).
_MALFORMED = (RecursionError, TypeError, OverflowError)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    issued_at: int
    expires_at: int


@lru_cache
def _signing_key() -> RSAPrivateKey:
    return get_key_set().signing_key


@lru_cache
def _jose_signing_key() -> Key:
    return jwk.construct(_signing_key(), ALGORITHM)


@lru_cache
def _verification_keys() -> dict[str, Key]:
    """Our key set by `kid`, as python-jose keys over the parsed `cryptography` objects."""
    return {kid: jwk.construct(key.key, ALGORITHM) for kid, key in get_key_set().public_keys.items()}


def load_keys() -> None:
    """Parse the signing key and the key set now rather than during a first request."""
    _jose_signing_key()
    _verification_keys()


@after_restore
def reload_keys() -> None:
    """A restored copy signs with key objects of its own (runs after `forget_parsed_keys`)."""
    for cached in (_signing_key, _jose_signing_key, _verification_keys):
        cached.cache_clear()
    load_keys()


def _encode(claims: dict[str, Any], header_type: str) -> str:
    headers = {"kid": get_key_set().signing_kid, "typ": header_type}
    token: str = jwt.encode(claims, _jose_signing_key(), algorithm=ALGORITHM, headers=headers)
    return token


def create_access_token(
    *,
    user_id: uuid.UUID,
    role: str,
    session_id: uuid.UUID,
    amr: tuple[str, ...] = PASSWORD_ONLY,
    client_id: str | None = None,
) -> IssuedToken:
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
        "amr": list(amr),
        "client_id": client_id or settings.DEFAULT_CLIENT_ID,
        "iat": now,
        "exp": expires_at,
        "jti": jti,
    }
    return IssuedToken(_encode(claims, ACCESS_TYPE_HEADER), jti, now, expires_at)


def refresh_token_expiry(issued_at: int) -> int:
    """When a refresh token issued at `issued_at` (seconds since the epoch) expires."""
    return issued_at + get_settings().REFRESH_TOKEN_EXPIRE_DAYS * 86400


def create_refresh_token(
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    jti: uuid.UUID,
    amr: tuple[str, ...] = PASSWORD_ONLY,
    issued_at: int | None = None,
    client_id: str | None = None,
) -> IssuedToken:
    """The session's `client_id` rides in its refresh tokens, so that every pair it issues names it."""
    settings = get_settings()
    now = int(time.time()) if issued_at is None else issued_at
    expires_at = refresh_token_expiry(now)
    claims = {
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_ISSUER,
        "sub": str(user_id),
        "sid": str(session_id),
        "type": "refresh",
        "amr": list(amr),
        "client_id": client_id or settings.DEFAULT_CLIENT_ID,
        "iat": now,
        "exp": expires_at,
        "jti": str(jti),
    }
    return IssuedToken(_encode(claims, "JWT"), str(jti), now, expires_at)


def create_mfa_token(
    *, user_id: uuid.UUID, binding: str, lifetime_seconds: int, client_id: str | None = None
) -> IssuedToken:
    """The second step of a login: good only at /api/v1/login/mfa, for `lifetime_seconds`, and
    only while `binding` (the account's password and session state) still holds. It carries the
    password step's `client_id` on to the session."""
    settings = get_settings()
    now = int(time.time())
    expires_at = now + lifetime_seconds
    jti = secrets.token_urlsafe(16)
    claims = {
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_ISSUER,
        "sub": str(user_id),
        "type": "mfa",
        "bnd": binding,
        "client_id": client_id or settings.DEFAULT_CLIENT_ID,
        "iat": now,
        "exp": expires_at,
        "jti": jti,
    }
    return IssuedToken(_encode(claims, MFA_TYPE_HEADER), jti, now, expires_at)


def uuid_claim(claims: dict[str, Any], name: str) -> uuid.UUID:
    """A claim that holds an id (`sub`, `sid`, `jti`), as a UUID; a token without it is invalid."""
    try:
        return uuid.UUID(str(claims[name]))
    except (KeyError, ValueError):
        raise InvalidToken() from None


def token_amr(claims: dict[str, Any]) -> tuple[str, ...]:
    """The `amr` a refresh token carries on to the next pair (older tokens have none: a password)."""
    amr = claims.get("amr")
    return PASSWORD_AND_OTP if amr == list(PASSWORD_AND_OTP) else PASSWORD_ONLY


def token_client_id(claims: dict[str, Any]) -> str:
    """The `client_id` a refresh or MFA token carries on (older tokens have none: the default)."""
    client_id = claims.get("client_id")
    return client_id if isinstance(client_id, str) and client_id else get_settings().DEFAULT_CLIENT_ID


def _audience_ok(claims: dict[str, Any], expected_type: TokenType) -> bool:
    """An access token is for `JWT_AUDIENCE`; a refresh or MFA token for the issuer, or, issued
    before refresh and MFA tokens had an audience of their own, for `JWT_AUDIENCE` without a
    `client_id` (every token issued since carries one). `aud` is one string or a list of them."""
    settings = get_settings()
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or not all(isinstance(name, str) for name in audiences):
        return False
    if expected_type == "access":
        return settings.JWT_AUDIENCE in audiences
    return settings.JWT_ISSUER in audiences or (settings.JWT_AUDIENCE in audiences and "client_id" not in claims)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_types(claims: dict[str, Any], names: tuple[str, ...]) -> None:
    """What python-jose lets through: numeric dates given as strings, non-string `sid`."""
    if not all(_is_number(claims[name]) for name in ("exp", "iat")) or not _is_number(claims.get("nbf", 0)):
        raise InvalidToken()
    if not all(isinstance(claims.get(name), str) for name in names):
        raise InvalidToken()


def decode_token(token: str, expected_type: TokenType) -> dict[str, Any]:
    """Verify encoding, algorithm, key id, signature, `exp`, `nbf`, `iat`, `iss`, `aud`, `sub`, `jti`,
    `type` (and `typ` of access tokens). Raises `TokenExpired` or `InvalidToken`."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not _CANONICAL_JWS.fullmatch(token):
        raise InvalidToken()
    settings = get_settings()
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        key = _verification_keys().get(kid) if isinstance(kid, str) else None
        if key is None or header.get("alg") != ALGORITHM:
            raise InvalidToken("Token signed by an unknown key or algorithm")
        if "crit" in header:  # no header extension is understood here, so none may be critical (RFC 7515 4.1.11)
            raise InvalidToken()
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=settings.JWT_ISSUER,
            options=_OPTIONS,  # the audience, which depends on the token's type, is checked below
        )
    except ExpiredSignatureError:
        raise TokenExpired() from None
    except (JOSEError, *_MALFORMED):
        raise InvalidToken() from None
    _check_types(claims, ("sub", "jti", "bnd") if expected_type == "mfa" else ("sub", "jti", "sid"))
    if not _audience_ok(claims, expected_type):
        raise InvalidToken()
    if claims.get("type") != expected_type:
        raise InvalidToken(f"Not an {expected_type} token" if expected_type != "refresh" else "Not a refresh token")
    header_type = {"access": ACCESS_TYPE_HEADER, "mfa": MFA_TYPE_HEADER}.get(expected_type)
    if header_type is not None and header.get("typ") != header_type:
        raise InvalidToken(f"Not an {expected_type} token")
    return claims
