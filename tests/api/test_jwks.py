from __future__ import annotations

import base64
import json
import subprocess
import sys

import anyio
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

from api._local import create_local_app
from api.jwks import app as jwks_app
from tests.fixtures import tokens as forge
from tests.fixtures.live import serve
from tests.fixtures.users import UserFactory

CACHE_CONTROL = "public, max-age=300, s-maxage=3600, stale-while-revalidate=86400"


def b64url_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


async def test_jwks_publishes_our_public_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == CACHE_CONTROL
    assert response.headers["content-type"] == "application/json"
    keys = response.json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert set(key) == {"kty", "kid", "use", "alg", "n", "e"}
    assert (key["kty"], key["use"], key["alg"], key["kid"]) == ("RSA", "sig", "RS256", forge.our_kid())
    assert "=" not in key["n"] + key["e"]
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    private = load_pem_private_key(forge.our_private_pem(), password=None)
    numbers = private.public_key().public_numbers()  # type: ignore[union-attr]
    assert RSAPublicNumbers(b64url_int(key["e"]), b64url_int(key["n"])) == numbers
    assert "d" not in key
    assert "p" not in key


async def test_jwks_kid_is_the_rfc7638_thumbprint(client: httpx.AsyncClient) -> None:
    from cryptography.hazmat.primitives import hashes
    from jwt.algorithms import RSAAlgorithm

    key = (await client.get("/.well-known/jwks.json")).json()["keys"][0]
    canonical = json.dumps({"e": key["e"], "kty": "RSA", "n": key["n"]}, separators=(",", ":"), sort_keys=True)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(canonical.encode())
    assert key["kid"] == base64.urlsafe_b64encode(digest.finalize()).rstrip(b"=").decode()
    assert RSAAlgorithm.from_jwk(json.dumps(key)) is not None


async def test_jwks_etag_and_304(client: httpx.AsyncClient) -> None:
    first = await client.get("/.well-known/jwks.json")
    etag = first.headers["etag"]
    assert etag.startswith('"')
    again = await client.get("/.well-known/jwks.json", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == CACHE_CONTROL
    weak = await client.get("/.well-known/jwks.json", headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    stale = await client.get("/.well-known/jwks.json", headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200


async def test_jwks_function_serves_alone() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=jwks_app), base_url="http://x") as http:
        jwks = await http.get("/.well-known/jwks.json")
        assert jwks.status_code == 200
        assert jwks.headers["access-control-allow-origin"] == "*"
        head = await http.head("/.well-known/jwks.json")
        assert head.status_code == 200
        assert head.content == b""
        assert (await http.post("/.well-known/jwks.json")).status_code == 405
        assert (await http.get("/.well-known/other")).status_code == 404
        preflight = await http.options(
            "/.well-known/jwks.json",
            headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
        )
        assert preflight.status_code == 204


async def test_discovery_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.headers["cache-control"] == CACHE_CONTROL
    doc = response.json()
    assert doc["issuer"] == "http://testserver"
    assert doc["jwks_uri"] == "http://testserver/.well-known/jwks.json"
    assert doc["token_endpoint"] == "http://testserver/api/v1/login"
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]


def test_jwks_function_imports_no_database_layer_or_hasher() -> None:
    """`cryptography`'s key loaders are allowed (they bring the `bcrypt` module for SSH keys, under 1 ms);
    our hasher (pwdlib, Argon2) and the JOSE library are not."""
    forbidden_packages = (
        "sqlalchemy",
        "sqlmodel",
        "asyncpg",
        "aiosqlite",
        "pwdlib",
        "argon2",
        "fastapi",
        "pydantic",
        "pydantic_settings",
        "jose",
        "jinja2",
        "aiosmtplib",
        "boto3",
    )
    forbidden_lib = ("lib.db", "lib.models", "lib.config", "lib.app", "lib.security.passwords", "lib.security.tokens")
    code = (
        "import sys, api.jwks\n"
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {forbidden_packages!r} "
        f"or m in {forbidden_lib!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


async def test_another_library_verifies_our_token_from_jwks(users: UserFactory) -> None:
    user = await users.sign_up()
    with serve(create_local_app()) as base_url:

        def verify() -> dict[str, object]:
            jwks_client = jwt.PyJWKClient(f"{base_url}/.well-known/jwks.json")
            signing_key = jwks_client.get_signing_key_from_jwt(user.access_token)
            return jwt.decode(
                user.access_token,
                signing_key.key,
                algorithms=["RS256"],
                issuer="http://testserver",
                audience="auth-service-tests",
            )

        claims = await anyio.to_thread.run_sync(verify)
    assert claims["type"] == "access"
    assert claims["role"] == "user"
    header = jwt.get_unverified_header(user.access_token)
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": forge.our_kid()}
    assert set(claims) == {"iss", "aud", "sub", "sid", "type", "role", "amr", "client_id", "iat", "exp", "jti"}
    assert claims["amr"] == ["pwd"]
    assert claims["client_id"] == "default-client"  # sign-up names no client: DEFAULT_CLIENT_ID
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(user.access_token, signing_key_pem(), algorithms=["RS256"], audience="someone-else")


async def test_a_resource_server_that_checks_aud_but_not_typ_refuses_a_refresh_token(users: UserFactory) -> None:
    """RFC 8725 3.12: the refresh token's `aud` is the issuer, not the resource servers' audience."""
    user = await users.sign_up()
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(
            user.refresh_token,
            signing_key_pem(),
            algorithms=["RS256"],
            issuer="http://testserver",
            audience="auth-service-tests",
        )
    claims = jwt.decode(user.refresh_token, signing_key_pem(), algorithms=["RS256"], audience="http://testserver")
    assert claims["type"] == "refresh"
    assert claims["client_id"] == "default-client"


def signing_key_pem() -> str:
    return forge.our_public_pem()


@pytest.mark.parametrize(
    "path", ["/.well-known/jwks.json", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
@pytest.mark.parametrize("origin", ["https://app.example.com", "https://elsewhere.example"])
async def test_public_documents_allow_every_origin_without_credentials(
    client: httpx.AsyncClient, path: str, origin: str
) -> None:
    """`*` and credentials never go together, whether or not the origin is in CORS_ORIGINS (the
    local app's CORS middleware, which allows credentials for the API, leaves these alone)."""
    for response in (await client.get(path, headers={"Origin": origin}), await jwks_client_get(path, origin)):
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers


async def jwks_client_get(path: str, origin: str) -> httpx.Response:
    """The same request to the JWKS function as deployed (its own app, no FastAPI)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=jwks_app), base_url="http://testserver") as http:
        return await http.get(path, headers={"Origin": origin})
