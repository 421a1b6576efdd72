"""Hostile token encodings: deeply nested JSON and non-canonical base64url get 401, never a 500."""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from lib.errors import InvalidToken
from lib.security.tokens import decode_token
from tests.fixtures import tokens as forge
from tests.fixtures.app import SettingsEnv
from tests.fixtures.users import UserFactory, bearer

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signed_with_our_key(header_segment: str, payload_segment: str) -> str:
    """A token whose signature is valid under our key, whatever its segments hold."""
    key = load_pem_private_key(forge.our_private_pem(), password=None)
    signing_input = f"{header_segment}.{payload_segment}"
    signature = key.sign(signing_input.encode("ascii"), PKCS1v15(), SHA256())  # type: ignore[union-attr,call-arg,arg-type]
    return f"{signing_input}.{b64(signature)}"


def our_header(**extra: Any) -> str:
    return b64(json.dumps({"alg": "RS256", "kid": forge.our_kid(), "typ": "at+jwt", **extra}).encode())


def deep_tokens() -> dict[str, str]:
    now = int(time.time())
    payload = b64(json.dumps({"sub": "x", "exp": now + 60}).encode())
    nested = "[" * 3000
    nested_object = '{"alg":"RS256","x":' + "[" * 3000 + "]" * 3000 + "}"
    deep_payload = '{"exp":' + str(now + 60) + ',"x":' + "[" * 2000 + "]" * 2000 + "}"
    return {
        "header of 3000 [": f"{b64(nested.encode())}.{payload}.{b64(b'sig')}",
        "header with a deep array": f"{b64(nested_object.encode())}.{payload}.{b64(b'sig')}",
        "signed payload nested 2000 deep": signed_with_our_key(our_header(), b64(deep_payload.encode())),
    }


def assert_refused_cleanly(response: httpx.Response, caplog: pytest.LogCaptureFixture) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert "RecursionError" not in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize("name", sorted(deep_tokens()))
async def test_deeply_nested_token_json_is_401_on_user_me(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    token = deep_tokens()[name]
    assert len(token) < 8192  # within the length limit: the nesting itself is what must be refused
    response = await client.get("/api/v1/user/me", headers=bearer(token))
    assert_refused_cleanly(response, caplog)


@pytest.mark.parametrize("name", sorted(deep_tokens()))
async def test_deeply_nested_token_json_is_401_on_refresh(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    response = await client.post("/api/v1/refresh", json={"refresh_token": deep_tokens()[name]})
    assert_refused_cleanly(response, caplog)


def non_canonical(segment: str) -> str | None:
    """The same bytes with the unused low bits of the last character set; None when it has none."""
    unused_bits = {2: 4, 3: 2}.get(len(segment) % 4)
    if unused_bits is None:
        return None
    index = B64URL.index(segment[-1])
    assert index & ((1 << unused_bits) - 1) == 0, "our encoder writes canonical base64url"
    changed = segment[:-1] + B64URL[index | 1]
    padded = "=" * (-len(segment) % 4)
    assert base64.urlsafe_b64decode(changed + padded) == base64.urlsafe_b64decode(segment + padded)
    return changed


def variants(token: str) -> dict[str, str]:
    """Every segment of `token` that has unused bits, re-encoded non-canonically."""
    segments = token.split(".")
    found = {}
    for position, name in enumerate(("header", "payload", "signature")):
        changed = non_canonical(segments[position])
        if changed is not None:
            found[name] = ".".join([*segments[:position], changed, *segments[position + 1 :]])
    return found


def tokens_covering_every_segment(base: dict[str, Any]) -> dict[str, str]:
    """Honest tokens signed with our key whose header, payload and signature each end in unused bits."""
    found: dict[str, str] = {}
    for pad in range(4):
        for header_pad in range(4):
            claims = forge.access_claims(base, jti="j" * (8 + pad))
            token = forge.sign(claims, x="h" * header_pad) if header_pad else forge.sign(claims)
            for segment, variant in variants(token).items():
                found.setdefault(segment, variant)
    assert set(found) == {"header", "payload", "signature"}
    return found


async def test_non_canonical_base64url_is_refused_on_user_me(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    base = forge.unverified_claims(user.access_token)
    assert (
        await client.get("/api/v1/user/me", headers=bearer(forge.sign(forge.access_claims(base))))
    ).status_code == 200
    for segment, variant in tokens_covering_every_segment(base).items():
        response = await client.get("/api/v1/user/me", headers=bearer(variant))
        assert response.status_code == 401, (segment, response.text)
        assert response.json()["code"] == "invalid_token"
    # the token as issued has a 342-character signature: its last character carries 4 unused bits
    assert "signature" in variants(user.access_token)
    response = await client.get("/api/v1/user/me", headers=bearer(variants(user.access_token)["signature"]))
    assert response.status_code == 401


async def test_non_canonical_refresh_token_is_not_decoded(users: UserFactory) -> None:
    user = await users.sign_up()
    decode_token(user.refresh_token, "refresh")
    found = variants(user.refresh_token)
    assert "signature" in found
    for variant in found.values():
        with pytest.raises(InvalidToken):
            decode_token(variant, "refresh")


@pytest.fixture(scope="module")
def key_4096() -> str:
    """A 4096-bit signing key (base64 of its PEM): its 512-byte signatures end in a group of three
    base64url characters, whose last one carries 2 unused bits (2048-bit ones end in two characters)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return base64.b64encode(pem).decode("ascii")


async def test_a_non_canonical_signature_under_a_4096_bit_key_is_refused(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv, key_4096: str
) -> None:
    """Only the signature's spelling changes, so only the canonical check can refuse it: the
    signature itself still verifies once decoded leniently."""
    settings_env(RSA_PRIVATE_KEY_CONTENT=key_4096)
    user = await users.sign_up()
    signature = user.access_token.rsplit(".", 1)[1]
    assert len(signature) % 4 == 3, "a 4096-bit key's signature ends in three characters"
    assert (await client.get("/api/v1/user/me", headers=user.headers)).status_code == 200

    for name, token in (("access", user.access_token), ("refresh", user.refresh_token)):
        variant = variants(token)["signature"]
        assert base64.urlsafe_b64decode(variant.rsplit(".", 1)[1] + "=") == base64.urlsafe_b64decode(
            token.rsplit(".", 1)[1] + "="
        )
        if name == "access":
            response = await client.get("/api/v1/user/me", headers=bearer(variant))
        else:
            response = await client.post("/api/v1/refresh", json={"refresh_token": variant})
        assert response.status_code == 401, (name, response.text)
        assert response.json()["code"] == "invalid_token"
        with pytest.raises(InvalidToken):
            decode_token(variant, name)  # type: ignore[arg-type]
    # The honest refresh token still works: the refusals above were the spelling's, not the session's.
    assert (await client.post("/api/v1/refresh", json={"refresh_token": user.refresh_token})).status_code == 200
