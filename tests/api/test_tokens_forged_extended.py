"""Forged access tokens, beyond the base matrix: header-supplied keys (jku, x5u, jwk),
hostile key ids, `nbf` in the future, and tokens from another issuer. Each one names a
real user and a live session, so that only the forgery itself can make it fail."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwt

from lib.security.keys import get_key_set
from lib.security.tokens import _signing_key
from tests.fixtures.keys import new_private_key, private_pem
from tests.fixtures.users import UserFactory, bearer

ATTACKER = new_private_key()
ATTACKER_JWKS_URL = "https://attacker.example/jwks.json"


def b64int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64int(numbers.n), "e": b64int(numbers.e)}


def claims_like(token: str, **changes: Any) -> dict[str, Any]:
    claims = jwt.get_unverified_claims(token)
    now = int(time.time())
    claims.update(iat=now, exp=now + 600, jti=f"forged-{now}")
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def sign(claims: dict[str, Any], key: Any, **headers: Any) -> str:
    return jwt.encode(claims, key, algorithm=headers.pop("alg", "RS256"), headers={"typ": "at+jwt", **headers})


def our_kid() -> str:
    return get_key_set().signing_kid


def forged_tokens(genuine: str) -> dict[str, str]:
    attacker_pem = private_pem(ATTACKER)
    claims = claims_like(genuine)
    return {
        "jku to attacker's key set, attacker's kid": sign(
            claims, attacker_pem, kid="attacker-key", jku=ATTACKER_JWKS_URL
        ),
        "jku to attacker's key set, our kid": sign(claims, attacker_pem, kid=our_kid(), jku=ATTACKER_JWKS_URL),
        "x5u to attacker's certificate, attacker's kid": sign(
            claims, attacker_pem, kid="attacker-key", x5u="https://attacker.example/cert.pem"
        ),
        "x5u to attacker's certificate, our kid": sign(
            claims, attacker_pem, kid=our_kid(), x5u="https://attacker.example/cert.pem"
        ),
        "embedded jwk, our kid": sign(claims, attacker_pem, kid=our_kid(), jwk=public_jwk(ATTACKER, our_kid())),
        "embedded jwk, no kid": sign(claims, attacker_pem, jwk=public_jwk(ATTACKER, "attacker-key")),
        "kid path traversal": sign(claims, attacker_pem, kid="../../../../../../dev/null"),
        "kid path traversal, HS256 with an empty key": sign(claims, "", alg="HS256", kid="../../../../dev/null"),
        "kid with SQL": sign(claims, attacker_pem, kid="x' UNION SELECT 'AAAA' --"),
        "kid with SQL, HS256 keyed by the injected value": sign(
            claims, "AAAA", alg="HS256", kid="x' UNION SELECT 'AAAA' --"
        ),
        "kid not a string": sign(claims, attacker_pem, kid=["a", "b"]),
        "nbf in the future, our key": sign(
            claims_like(genuine, nbf=int(time.time()) + 3600), _signing_key(), kid=our_kid()
        ),
        "nbf two minutes ahead, our key": sign(
            claims_like(genuine, nbf=int(time.time()) + 120), _signing_key(), kid=our_kid()
        ),
        "another issuer, our key": sign(
            claims_like(genuine, iss="https://other-issuer.example"), _signing_key(), kid=our_kid()
        ),
        "another issuer, a valid-looking key with our kid": sign(
            claims_like(genuine, iss="https://other-issuer.example"), attacker_pem, kid=our_kid()
        ),
        "our issuer, a valid-looking key with our kid": sign(claims, attacker_pem, kid=our_kid()),
        "another audience, our key": sign(
            claims_like(genuine, aud="some-other-service"), _signing_key(), kid=our_kid()
        ),
    }


CASES = [
    "jku to attacker's key set, attacker's kid",
    "jku to attacker's key set, our kid",
    "x5u to attacker's certificate, attacker's kid",
    "x5u to attacker's certificate, our kid",
    "embedded jwk, our kid",
    "embedded jwk, no kid",
    "kid path traversal",
    "kid path traversal, HS256 with an empty key",
    "kid with SQL",
    "kid with SQL, HS256 keyed by the injected value",
    "kid not a string",
    "nbf in the future, our key",
    "nbf two minutes ahead, our key",
    "another issuer, our key",
    "another issuer, a valid-looking key with our kid",
    "our issuer, a valid-looking key with our kid",
    "another audience, our key",
]


def test_every_case_is_built() -> None:
    assert list(forged_tokens(sign({"sub": "x"}, _signing_key(), kid=our_kid()))) == CASES


async def test_genuine_token_and_a_resigned_copy_are_accepted(client: httpx.AsyncClient, users: UserFactory) -> None:
    """The control: re-signing the same claims with our key is accepted, so every refusal below is the forgery's."""
    user = await users.sign_up()
    resigned = sign(claims_like(user.access_token), _signing_key(), kid=our_kid())
    for token in (user.access_token, resigned):
        assert (await client.get("/api/v1/user/me", headers=bearer(token))).status_code == 200


@pytest.mark.parametrize("case", CASES)
async def test_forged_token_is_refused(client: httpx.AsyncClient, users: UserFactory, case: str) -> None:
    user = await users.sign_up()
    token = forged_tokens(user.access_token)[case]
    response = await client.get("/api/v1/user/me", headers=bearer(token))
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    # The forged token must not end the real session either.
    assert (await client.get("/api/v1/user/me", headers=user.headers)).status_code == 200
