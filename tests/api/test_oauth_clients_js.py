"""panva's JavaScript OAuth 2.0 clients, `oauth4webapi` and `openid-client`, unchanged, against a real
HTTP server: discovery on both documents, the password grant, refresh, revocation, userinfo, the
RFC 9068 access-token check, and each token-endpoint error reaching the caller as `invalid_grant`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.fixtures.app import SettingsEnv
from tests.fixtures.mfa import LOGIN_MFA, enrol, totp_code
from tests.fixtures.tokens import unverified_claims
from tests.fixtures.users import PASSWORD, UserFactory

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (ROOT / "tests/fixtures/oauth_clients.mjs").read_text()
AUDIENCE = "auth-service-tests"
LIBRARIES = ["oauth4webapi", "openid-client"]


def run_client(library: str, scenario: str, issuer: str, **arguments: str) -> dict[str, Any]:
    node_modules = Path(os.environ.get("DEPLOY_NODE_MODULES") or ROOT / ".cache/node/node_modules")
    assert (node_modules / library).is_dir(), f"scripts/test installs {library} into .cache/node"
    done = subprocess.run(
        ["node", "--input-type=module", "-e", SCRIPT, library, scenario, issuer, json.dumps(arguments)],
        cwd=node_modules.parent,  # where the imports are resolved from
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def client_run(library: str, scenario: str, issuer: str, **arguments: str) -> dict[str, Any]:
    return await anyio.to_thread.run_sync(lambda: run_client(library, scenario, issuer, **arguments))


def assert_invalid_grant(outcome: dict[str, Any]) -> None:
    """A token-endpoint error as RFC 6749 5.2 says: a ResponseBodyError carrying `invalid_grant`."""
    assert "failed" in outcome, f"the client took an error for tokens: {outcome}"
    failed = outcome["failed"]
    assert failed["name"] == "ResponseBodyError", failed
    assert failed["error"] == "invalid_grant", failed
    assert failed["status"] == 400, failed
    assert failed["cause"]["code"], failed  # our own `code` is still in the body


@pytest.mark.parametrize("library", LIBRARIES)
async def test_client_discovers_signs_in_refreshes_and_revokes(
    library: str, live_issuer: str, users: UserFactory
) -> None:
    user = await users.sign_up()
    result = await client_run(
        library, "flow", live_issuer, username=user.username, password=PASSWORD, audience=AUDIENCE
    )
    assert result["issuers"] == [live_issuer, live_issuer]
    assert result["token_endpoint"] == f"{live_issuer}/api/v1/login"
    assert result["token_type"].lower() == "bearer"
    assert result["userinfo"]["email"] == user.email
    assert result["userinfo"]["sub"] == result["userinfo"]["id"]
    assert "ok" in result["claims"], result["claims"]  # validateJwtAccessToken accepted it
    claims = result["claims"]["ok"]
    assert claims["client_id"] == "web-app"
    assert claims["sub"] == result["userinfo"]["sub"]
    assert result["refreshed"] is True
    assert result["revoked"] == 200
    assert_invalid_grant(result["after_revocation"])


@pytest.mark.parametrize("library", LIBRARIES)
async def test_client_reads_a_wrong_password_as_invalid_grant(
    library: str, live_issuer: str, users: UserFactory
) -> None:
    user = await users.sign_up()
    outcome = await client_run(library, "wrong_password", live_issuer, username=user.email, password="not it at all")
    assert_invalid_grant(outcome)
    assert outcome["failed"]["error_description"] == "Incorrect username or password"


@pytest.mark.parametrize("library", LIBRARIES)
async def test_client_reads_a_used_refresh_token_as_invalid_grant(
    library: str, live_issuer: str, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(REFRESH_REUSE_GRACE_SECONDS="0")
    user = await users.sign_up()
    outcome = await client_run(library, "used_refresh_token", live_issuer, username=user.username, password=PASSWORD)
    assert_invalid_grant(outcome)
    assert outcome["failed"]["cause"]["code"] == "token_reused"


@pytest.mark.parametrize("library", LIBRARIES)
async def test_client_reads_a_malformed_or_misused_refresh_token_as_invalid_grant(
    library: str, live_issuer: str, users: UserFactory
) -> None:
    user = await users.sign_up()
    assert_invalid_grant(await client_run(library, "refresh_token", live_issuer, refresh_token="not-a-token"))
    assert_invalid_grant(await client_run(library, "refresh_token", live_issuer, refresh_token=user.access_token))


@pytest.mark.parametrize("library", LIBRARIES)
async def test_client_reaches_the_mfa_token_through_the_error_cause(
    library: str, live_issuer: str, users: UserFactory, client: httpx.AsyncClient
) -> None:
    user = await users.sign_up()
    enrolled = await enrol(client, user)
    outcome = await client_run(library, "mfa_required", live_issuer, username=user.username, password=PASSWORD)
    failed = outcome["failed"]
    assert (failed["name"], failed["error"], failed["status"]) == ("ResponseBodyError", "mfa_required", 403)
    second = await client.post(
        LOGIN_MFA, json={"mfa_token": failed["cause"]["mfa_token"], "code": totp_code(enrolled.secret)}
    )
    assert second.status_code == 200, second.text
    # the password step's client_id rode in the mfa_token on to the session
    assert unverified_claims(second.json()["access_token"])["client_id"] == "web-app"
