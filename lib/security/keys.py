"""The signing key and the published key set, parsed once per process by `cryptography`.

The JWKS function imports this module too: `cryptography`'s serialization is
the only library it loads (about a tenth of `import fastapi`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from lib.config_error import ConfigError
from lib.env import env, env_list
from lib.snapstart import after_restore


@dataclass(frozen=True)
class PublicKey:
    kid: str
    key: RSAPublicKey

    @property
    def n(self) -> int:
        return self.key.public_numbers().n

    @property
    def e(self) -> int:
        return self.key.public_numbers().e

    def jwk(self) -> dict[str, str]:
        return {
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": _b64_int(self.n),
            "e": _b64_int(self.e),
        }


@dataclass(frozen=True)
class KeySet:
    signing_kid: str
    signing_key: RSAPrivateKey
    public_keys: dict[str, PublicKey]


def _b64_int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def thumbprint(n: int, e: int) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url)."""
    canonical = json.dumps({"e": _b64_int(e), "kty": "RSA", "n": _b64_int(n)}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def decode_pem_setting(value: str, name: str) -> str:
    """Accept base64 of a PEM, a raw PEM, or a raw PEM with literal `\\n` sequences."""
    text = value.strip()
    if "-----BEGIN" in text:
        return text.replace("\\n", "\n")
    try:
        decoded = base64.b64decode("".join(text.split()), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name} is neither base64 of a PEM nor a PEM") from exc
    if "-----BEGIN" not in decoded:
        raise ConfigError(f"{name} does not decode to a PEM")
    return decoded.replace("\\n", "\n")


def _private_pem() -> str:
    content = env("RSA_PRIVATE_KEY_CONTENT")
    if content:
        return decode_pem_setting(content, "RSA_PRIVATE_KEY_CONTENT")
    key_path = env("RSA_PRIVATE_KEY_PATH")
    if key_path:
        path = Path(key_path)
        try:
            return path.read_text()
        except OSError as exc:
            raise ConfigError(f"RSA_PRIVATE_KEY_PATH: cannot read {path}: {exc.strerror}") from exc
    raise ConfigError("RSA_PRIVATE_KEY_CONTENT or RSA_PRIVATE_KEY_PATH must be set (run scripts/gen-keys)")


def _private_key(pem: str) -> RSAPrivateKey:
    try:
        # Our own configured key, not a stranger's: skipping OpenSSL's full RSA consistency
        # check (a few primality tests, ~60 ms) is safe here and shortens every cold start.
        key = load_pem_private_key(pem.encode(), password=None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"RSA private key: not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, RSAPrivateKey):
        raise ConfigError(f"RSA private key: expected an RSA key, got {type(key).__name__}")
    return key


def _public_key(key: RSAPublicKey, name: str, kid: str | None = None) -> PublicKey:
    numbers = key.public_numbers()
    if numbers.n.bit_length() < 2048:
        raise ConfigError(f"{name}: RSA keys must be at least 2048 bits, got {numbers.n.bit_length()}")
    return PublicKey(kid=kid or thumbprint(numbers.n, numbers.e), key=key)


def _previous_key(pem: str, name: str) -> RSAPublicKey:
    try:
        key = load_pem_public_key(pem.encode())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"{name}: not a PEM public key ({exc})") from exc
    if not isinstance(key, RSAPublicKey):
        raise ConfigError(f"{name}: expected an RSA key, got {type(key).__name__}")
    return key


@lru_cache
def get_key_set() -> KeySet:
    signing_key = _private_key(_private_pem())
    current = _public_key(signing_key.public_key(), "RSA private key", env("RSA_PUBLIC_KEY_ID"))
    public_keys = {current.kid: current}
    for index, value in enumerate(env_list("RSA_PREVIOUS_PUBLIC_KEYS")):
        name = f"RSA_PREVIOUS_PUBLIC_KEYS[{index}]"
        previous = _public_key(_previous_key(decode_pem_setting(value, name), name), name)
        public_keys.setdefault(previous.kid, previous)
    return KeySet(signing_kid=current.kid, signing_key=signing_key, public_keys=public_keys)


@lru_cache
def derived_secret(purpose: str) -> bytes:
    """A 256-bit secret for `purpose` alone, derived (HKDF-SHA256) from the signing key's private
    bytes: nothing more to configure, and knowing it reveals neither the key nor another purpose's
    secret. A new signing key gives new secrets."""
    private = get_key_set().signing_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode("utf-8")).derive(private)


@lru_cache
def jwks_document() -> bytes:
    keys = [key.jwk() for key in get_key_set().public_keys.values()]
    return json.dumps({"keys": keys}, separators=(",", ":")).encode("ascii")


@after_restore
def forget_parsed_keys() -> None:
    """A restored copy parses the keys again: OpenSSL's RSA blinding state must not be shared."""
    get_key_set.cache_clear()
    jwks_document.cache_clear()
