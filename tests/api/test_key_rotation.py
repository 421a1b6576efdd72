from __future__ import annotations

import httpx
from jose import jwt

from lib.security.keys import thumbprint
from tests.fixtures.app import SettingsEnv
from tests.fixtures.keys import b64, new_private_key, private_pem, public_pem
from tests.fixtures.users import UserFactory, bearer


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def jwks_kids(client: httpx.AsyncClient) -> list[str]:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return [key["kid"] for key in response.json()["keys"]]


async def test_tokens_signed_by_the_previous_key_verify_until_it_is_removed(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    old, new = new_private_key(), new_private_key()
    old_kid = thumbprint(old.public_key().public_numbers().n, old.public_key().public_numbers().e)
    new_kid = thumbprint(new.public_key().public_numbers().n, new.public_key().public_numbers().e)
    settings_env(RSA_PRIVATE_KEY_CONTENT=b64(private_pem(old)))
    before = await users.sign_up()
    assert kid_of(before.access_token) == old_kid
    assert await jwks_kids(client) == [old_kid]

    settings_env(RSA_PRIVATE_KEY_CONTENT=b64(private_pem(new)), RSA_PREVIOUS_PUBLIC_KEYS=b64(public_pem(old)))
    assert await jwks_kids(client) == [new_kid, old_kid]
    assert (await client.get("/api/v1/user/me", headers=before.headers)).status_code == 200
    # A refresh token from before the rotation still rotates, and the new pair uses the new key.
    refreshed = await client.post("/api/v1/refresh", json={"refresh_token": before.refresh_token})
    assert refreshed.status_code == 200
    pair = refreshed.json()
    assert kid_of(pair["access_token"]) == new_kid
    assert kid_of(pair["refresh_token"]) == new_kid
    assert (await client.get("/api/v1/user/me", headers=bearer(pair["access_token"]))).status_code == 200

    later = await users.sign_up()
    assert kid_of(later.access_token) == new_kid

    settings_env(RSA_PRIVATE_KEY_CONTENT=b64(private_pem(new)), RSA_PREVIOUS_PUBLIC_KEYS="")
    assert await jwks_kids(client) == [new_kid]
    refused = await client.get("/api/v1/user/me", headers=before.headers)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert (await client.get("/api/v1/user/me", headers=later.headers)).status_code == 200


async def test_several_previous_keys_are_published_and_accepted(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    first, second, current = new_private_key(), new_private_key(), new_private_key()
    settings_env(RSA_PRIVATE_KEY_CONTENT=b64(private_pem(first)))
    from_first = await users.sign_up()
    settings_env(RSA_PRIVATE_KEY_CONTENT=b64(private_pem(second)), RSA_PREVIOUS_PUBLIC_KEYS=b64(public_pem(first)))
    from_second = await users.sign_up()
    settings_env(
        RSA_PRIVATE_KEY_CONTENT=b64(private_pem(current)),
        RSA_PREVIOUS_PUBLIC_KEYS=f"{b64(public_pem(second))},{b64(public_pem(first))}",
    )
    assert len(await jwks_kids(client)) == 3
    for signed_up in (from_first, from_second):
        assert (await client.get("/api/v1/user/me", headers=signed_up.headers)).status_code == 200
