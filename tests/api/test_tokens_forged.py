"""Every forged or misused token is refused with 401 and `invalid_token`-style codes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.fixtures import tokens as forge
from tests.fixtures.users import UserFactory, bearer

Forgery = Callable[[dict[str, Any], str], str]

FORGERIES: dict[str, Forgery] = {
    "alg_none": lambda base, _: forge.unsigned(forge.access_claims(base)),
    "rs256_signature_under_rs512_header": lambda base, _: forge.rs256_under_another_alg(
        forge.access_claims(base), "RS512"
    ),
    "rs256_signature_under_ps256_header": lambda base, _: forge.rs256_under_another_alg(
        forge.access_claims(base), "PS256"
    ),
    "alg_none_uppercase": lambda base, _: forge.unsigned(forge.access_claims(base), alg="NONE"),
    "hs256_with_public_key_as_secret": lambda base, _: forge.hs256_with_public_key(forge.access_claims(base)),
    "unknown_kid": lambda base, _: forge.sign(forge.access_claims(base), kid="not-our-key"),
    "missing_kid": lambda base, _: forge.sign(forge.access_claims(base), kid=None),
    "other_key_with_our_kid": lambda base, _: forge.sign(forge.access_claims(base), key=forge.other_private_pem()),
    "payload_changed_under_signature": lambda base, token: forge.with_payload(token, {**base, "role": "admin"}),
    "signature_stripped": lambda base, token: token.rsplit(".", 1)[0] + ".",
    "expired": lambda base, _: forge.sign(
        forge.access_claims(base, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    ),
    "wrong_issuer": lambda base, _: forge.sign(forge.access_claims(base, iss="https://evil.example.com")),
    "wrong_audience": lambda base, _: forge.sign(forge.access_claims(base, aud="another-service")),
    "missing_audience": lambda base, _: forge.sign(forge.access_claims(base, aud=None)),
    "missing_exp": lambda base, _: forge.sign(forge.access_claims(base, exp=None)),
    "wrong_type_claim": lambda base, _: forge.sign(forge.access_claims(base, type="refresh")),
    "missing_type_claim": lambda base, _: forge.sign(forge.access_claims(base, type=None)),
    "wrong_typ_header": lambda base, _: forge.sign(forge.access_claims(base), typ="JWT"),
    "unknown_session": lambda base, _: forge.sign(
        forge.access_claims(base, sid="00000000-0000-0000-0000-000000000000")
    ),
    "unknown_subject": lambda base, _: forge.sign(
        forge.access_claims(base, sub="00000000-0000-0000-0000-000000000000")
    ),
    "subject_not_a_uuid": lambda base, _: forge.sign(forge.access_claims(base, sub="'; DROP TABLE users; --")),
}


# Every forgery is `invalid_token`, but an honest token of ours that is only too old says so.
EXPECTED_CODE = {"expired": "token_expired"}


@pytest.mark.parametrize("name", sorted(FORGERIES))
async def test_forged_access_token_is_refused(client: httpx.AsyncClient, users: UserFactory, name: str) -> None:
    user = await users.sign_up()
    base = forge.unverified_claims(user.access_token)
    token = FORGERIES[name](base, user.access_token)
    response = await client.get("/api/v1/user/me", headers=bearer(token))
    assert response.status_code == 401, (name, response.text)
    assert response.json()["code"] == EXPECTED_CODE.get(name, "invalid_token")
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    # the honest token still works: the refusal was about the forgery
    assert (await client.get("/api/v1/user/me", headers=user.headers)).status_code == 200


async def test_expired_token_says_so(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    base = forge.unverified_claims(user.access_token)
    token = forge.sign(forge.access_claims(base, iat=int(time.time()) - 7200, exp=int(time.time()) - 60))
    response = await client.get("/api/v1/user/me", headers=bearer(token))
    assert response.json()["code"] == "token_expired"


async def test_token_signed_with_our_key_and_honest_claims_is_accepted(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    """The control for the matrix above: the forging helpers build valid tokens when nothing is off."""
    user = await users.sign_up()
    token = forge.sign(forge.access_claims(forge.unverified_claims(user.access_token)))
    assert (await client.get("/api/v1/user/me", headers=bearer(token))).status_code == 200


async def test_refresh_token_is_not_an_access_token(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    response = await client.get("/api/v1/user/me", headers=bearer(user.refresh_token))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_access_token_is_not_a_refresh_token(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    response = await client.post("/api/v1/refresh", json={"refresh_token": user.access_token})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_forged_refresh_token_with_valid_shape_is_refused(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    claims = forge.unverified_claims(user.refresh_token)
    other = forge.sign({**claims, "jti": "another"}, key=forge.other_private_pem(), typ="JWT")
    refused = await client.post("/api/v1/refresh", json={"refresh_token": other})
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_token")
    # signed with our key but never issued (not in the database): refused too
    minted = forge.sign({**claims, "jti": "00000000-0000-0000-0000-000000000001"}, typ="JWT")
    refused = await client.post("/api/v1/refresh", json={"refresh_token": minted})
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_token")
    # the honest token still refreshes: neither forgery touched its family
    assert (await client.post("/api/v1/refresh", json={"refresh_token": user.refresh_token})).status_code == 200
