"""Standard clients, unchanged, against a real HTTP server: Authlib's and requests-oauthlib's OAuth 2.0
clients for the token and revocation endpoints, and PyJWT and Node's `jose` verifying our tokens from
the published keys. (panva's JavaScript clients: test_oauth_clients_js.py.)"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import anyio
import httpx
import jwt
import pytest
import requests
from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from oauthlib.oauth2 import LegacyApplicationClient, OAuth2Error
from requests_oauthlib import OAuth2Session

from tests.fixtures.app import SettingsEnv
from tests.fixtures.mfa import LOGIN_MFA, enrol, totp_code
from tests.fixtures.users import PASSWORD, UserFactory

ROOT = Path(__file__).resolve().parents[2]
AUDIENCE = "auth-service-tests"


def metadata(base_url: str) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{base_url}/.well-known/oauth-authorization-server").json()
    return document


def password_refresh_revoke(base_url: str, username: str) -> dict[str, Any]:
    """What an application does with Authlib: log in, refresh, revoke, then try the revoked token."""
    server = metadata(base_url)
    with OAuth2Client(client_id="web-app", token_endpoint_auth_method="none") as client:
        token = client.fetch_token(server["token_endpoint"], username=username, password=PASSWORD)
        me = client.get(server["userinfo_endpoint"]).json()
        refreshed = client.refresh_token(server["token_endpoint"], refresh_token=token["refresh_token"])
        revoked = client.revoke_token(
            server["revocation_endpoint"], token=refreshed["refresh_token"], token_type_hint="refresh_token"
        )
        try:
            client.refresh_token(server["token_endpoint"], refresh_token=refreshed["refresh_token"])
            after_revocation = None
        except OAuthError as error:
            after_revocation = error.error
    return {
        "token": dict(token),
        "me": me,
        "refreshed": dict(refreshed),
        "revoked_status": revoked.status_code,
        "after_revocation": after_revocation,
    }


async def test_authlib_logs_in_refreshes_and_revokes(live_issuer: str, users: UserFactory) -> None:
    user = await users.sign_up()
    result = await anyio.to_thread.run_sync(password_refresh_revoke, live_issuer, user.username)
    assert result["token"]["token_type"] == "Bearer"
    assert result["me"]["sub"] == result["me"]["id"]
    assert result["me"]["email"] == user.email
    assert result["refreshed"]["access_token"] != result["token"]["access_token"]
    assert result["refreshed"]["refresh_token"] != result["token"]["refresh_token"]
    assert result["revoked_status"] == 200
    assert result["after_revocation"] == "invalid_grant"
    for pair in (result["token"], result["refreshed"]):
        assert jwt.decode(pair["access_token"], options={"verify_signature": False})["client_id"] == "web-app"


def oauth_error_of(base_url: str, **grant: str) -> tuple[str, str | None]:
    server = metadata(base_url)
    with OAuth2Client(client_id="web-app", token_endpoint_auth_method="none") as client:
        try:
            if "refresh_token" in grant:
                client.refresh_token(server["token_endpoint"], refresh_token=grant["refresh_token"])
            else:
                client.fetch_token(server["token_endpoint"], **grant)
        except OAuthError as error:
            return error.error, error.description
    raise AssertionError("the client returned an error response as if it were a token")


async def test_authlib_raises_invalid_grant_for_a_wrong_password_and_a_bad_refresh_token(
    live_issuer: str, users: UserFactory
) -> None:
    user = await users.sign_up()
    wrong = await anyio.to_thread.run_sync(
        lambda: oauth_error_of(live_issuer, username=user.email, password="not the password")
    )
    assert wrong == ("invalid_grant", "Incorrect username or password")
    bad = await anyio.to_thread.run_sync(lambda: oauth_error_of(live_issuer, refresh_token="not-a-token"))
    assert bad[0] == "invalid_grant"
    access_as_refresh = await anyio.to_thread.run_sync(
        lambda: oauth_error_of(live_issuer, refresh_token=user.access_token)
    )
    assert access_as_refresh[0] == "invalid_grant"


def used_refresh_token_error(base_url: str, username: str) -> tuple[str, str | None]:
    """Authlib presenting a refresh token again after its rotation (the grace window is off)."""
    server = metadata(base_url)
    with OAuth2Client(client_id="web-app", token_endpoint_auth_method="none") as client:
        token = client.fetch_token(server["token_endpoint"], username=username, password=PASSWORD)
        client.refresh_token(server["token_endpoint"], refresh_token=token["refresh_token"])
        try:
            client.refresh_token(server["token_endpoint"], refresh_token=token["refresh_token"])
        except OAuthError as error:
            return error.error, error.description
    raise AssertionError("a used refresh token was accepted")


async def test_authlib_raises_invalid_grant_for_a_used_refresh_token(
    live_issuer: str, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(REFRESH_REUSE_GRACE_SECONDS="0")
    user = await users.sign_up()
    error, _ = await anyio.to_thread.run_sync(used_refresh_token_error, live_issuer, user.username)
    assert error == "invalid_grant"


def requests_oauthlib_flow(base_url: str, username: str) -> dict[str, Any]:
    """What an application does with requests-oauthlib: the password grant (client_id in the
    body: by default it sends it as Basic credentials, which a public client has none of), userinfo,
    refresh, revocation (a plain POST: requests-oauthlib has no revocation call), and the revoked
    token again."""
    server = metadata(base_url)
    oauth = OAuth2Session(client=LegacyApplicationClient(client_id="web-app"))
    token = oauth.fetch_token(server["token_endpoint"], username=username, password=PASSWORD, include_client_id=True)
    me = oauth.get(server["userinfo_endpoint"]).json()
    refreshed = oauth.refresh_token(server["token_endpoint"], client_id="web-app")
    revoked = oauth.post(
        server["revocation_endpoint"], data={"token": refreshed["refresh_token"], "token_type_hint": "refresh_token"}
    )
    try:
        oauth.refresh_token(server["token_endpoint"], refresh_token=refreshed["refresh_token"])
        after_revocation = None
    except OAuth2Error as error:
        after_revocation = error.error
    return {
        "token": dict(token),
        "me": me,
        "refreshed": dict(refreshed),
        "revoked_status": revoked.status_code,
        "after_revocation": after_revocation,
    }


async def test_requests_oauthlib_logs_in_refreshes_and_revokes(live_issuer: str, users: UserFactory) -> None:
    user = await users.sign_up()
    result = await anyio.to_thread.run_sync(requests_oauthlib_flow, live_issuer, user.username)
    assert result["token"]["token_type"] == "Bearer"
    assert jwt.decode(result["token"]["access_token"], options={"verify_signature": False})["client_id"] == "web-app"
    assert result["me"]["email"] == user.email
    assert result["refreshed"]["refresh_token"] != result["token"]["refresh_token"]
    assert jwt.decode(result["refreshed"]["access_token"], options={"verify_signature": False})["client_id"] == (
        "web-app"
    )
    assert result["revoked_status"] == 200
    assert result["after_revocation"] == "invalid_grant"


def requests_oauthlib_error(base_url: str, **grant: str) -> str:
    """The error requests-oauthlib raises (its `status_code` is the error class's, not the answer's)."""
    server = metadata(base_url)
    oauth = OAuth2Session(client=LegacyApplicationClient(client_id="web-app"))
    try:
        if "refresh_token" in grant:
            oauth.refresh_token(server["token_endpoint"], refresh_token=grant["refresh_token"])
        else:
            oauth.fetch_token(server["token_endpoint"], include_client_id=True, **grant)
    except OAuth2Error as error:
        return str(error.error)
    raise AssertionError("requests-oauthlib took an error response for a token")


async def test_requests_oauthlib_raises_invalid_grant_for_each_refused_grant(
    live_issuer: str, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(REFRESH_REUSE_GRACE_SECONDS="0")
    user = await users.sign_up()
    wrong = await anyio.to_thread.run_sync(
        lambda: requests_oauthlib_error(live_issuer, username=user.email, password="not the password")
    )
    assert wrong == "invalid_grant"
    used = await users.client.post(
        "/api/v1/login", data={"grant_type": "refresh_token", "refresh_token": user.refresh_token}
    )
    assert used.status_code == 200, used.text
    reused = await anyio.to_thread.run_sync(
        lambda: requests_oauthlib_error(live_issuer, refresh_token=user.refresh_token)
    )
    assert reused == "invalid_grant"
    malformed = await anyio.to_thread.run_sync(lambda: requests_oauthlib_error(live_issuer, refresh_token="nope"))
    assert malformed == "invalid_grant"


def authlib_mfa_token(base_url: str, username: str) -> tuple[str, str | None]:
    """Authlib raises `mfa_required` without the body: a compliance hook keeps the mfa_token."""
    server = metadata(base_url)
    kept: dict[str, str] = {}

    def keep_mfa_token(response: httpx.Response) -> httpx.Response:
        if response.status_code == 403:
            kept["mfa_token"] = response.json()["mfa_token"]
        return response

    with OAuth2Client(client_id="web-app", token_endpoint_auth_method="none") as client:
        client.register_compliance_hook("access_token_response", keep_mfa_token)
        try:
            client.fetch_token(server["token_endpoint"], username=username, password=PASSWORD)
        except OAuthError as error:
            return error.error, kept.get("mfa_token")
    raise AssertionError("the second-factor answer was taken for a token")


def requests_oauthlib_mfa_token(base_url: str, username: str) -> tuple[str, str | None]:
    server = metadata(base_url)
    kept: dict[str, str] = {}

    def keep_mfa_token(response: requests.Response) -> requests.Response:
        if response.status_code == 403:
            kept["mfa_token"] = response.json()["mfa_token"]
        return response

    oauth = OAuth2Session(client=LegacyApplicationClient(client_id="web-app"))
    oauth.register_compliance_hook("access_token_response", keep_mfa_token)
    try:
        oauth.fetch_token(server["token_endpoint"], username=username, password=PASSWORD, include_client_id=True)
    except OAuth2Error as error:
        return str(error.error), kept.get("mfa_token")
    raise AssertionError("the second-factor answer was taken for a token")


@pytest.mark.parametrize("reach", [authlib_mfa_token, requests_oauthlib_mfa_token])
async def test_python_clients_reach_the_mfa_token_with_a_compliance_hook(
    live_issuer: str, users: UserFactory, client: httpx.AsyncClient, reach: Any
) -> None:
    user = await users.sign_up()
    enrolled = await enrol(client, user)
    error, mfa_token = await anyio.to_thread.run_sync(reach, live_issuer, user.username)
    assert error == "mfa_required"
    assert mfa_token
    second = await client.post(LOGIN_MFA, json={"mfa_token": mfa_token, "code": totp_code(enrolled.secret)})
    assert second.status_code == 200, second.text
    assert jwt.decode(second.json()["access_token"], options={"verify_signature": False})["client_id"] == "web-app"


async def test_pyjwt_verifies_a_token_with_keys_found_through_discovery(live_issuer: str, users: UserFactory) -> None:
    user = await users.sign_up()

    def verify() -> dict[str, Any]:
        discovery = httpx.get(f"{live_issuer}/.well-known/openid-configuration").json()
        signing_key = jwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(user.access_token)
        claims: dict[str, Any] = jwt.decode(
            user.access_token,
            signing_key.key,
            algorithms=discovery["id_token_signing_alg_values_supported"],
            issuer=discovery["issuer"],
            audience=AUDIENCE,
        )
        return claims

    claims = await anyio.to_thread.run_sync(verify)
    assert claims["iss"] == live_issuer
    assert claims["type"] == "access"


NODE_VERIFY = """
import { createRemoteJWKSet, jwtVerify } from "jose";
const [jwksUri, token, issuer, audience] = process.argv.slice(1);
const keys = createRemoteJWKSet(new URL(jwksUri));
const { payload, protectedHeader } = await jwtVerify(token, keys, {
  issuer, audience, typ: "at+jwt", algorithms: ["RS256"],
});
console.log(JSON.stringify({ payload, protectedHeader }));
"""


def node_verify(jwks_uri: str, token: str, issuer: str) -> subprocess.CompletedProcess[str]:
    node_modules = Path(os.environ.get("DEPLOY_NODE_MODULES") or ROOT / ".cache/node/node_modules")
    assert (node_modules / "jose").is_dir(), "scripts/test installs Node's jose into .cache/node"
    return subprocess.run(
        ["node", "--input-type=module", "-e", NODE_VERIFY, jwks_uri, token, issuer, AUDIENCE],
        cwd=node_modules.parent,  # where `import "jose"` is resolved from
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_node_jose_verifies_our_access_token_and_refuses_a_refresh_token(
    live_issuer: str, users: UserFactory
) -> None:
    user = await users.sign_up()
    jwks_uri = f"{live_issuer}/.well-known/jwks.json"
    done = await anyio.to_thread.run_sync(node_verify, jwks_uri, user.access_token, live_issuer)
    assert done.returncode == 0, done.stderr
    verified = json.loads(done.stdout)
    assert verified["protectedHeader"]["typ"] == "at+jwt"
    assert verified["payload"]["iss"] == live_issuer
    assert verified["payload"]["type"] == "access"
    # a refresh token is no access token: its `typ` is not at+jwt
    refused = await anyio.to_thread.run_sync(node_verify, jwks_uri, user.refresh_token, live_issuer)
    assert refused.returncode != 0
    assert "typ" in refused.stderr
