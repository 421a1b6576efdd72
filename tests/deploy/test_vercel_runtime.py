"""Each function imported and served by Vercel's Python bootstrap (vercel-runtime), one process each."""

from __future__ import annotations

import asyncio
import json
import os
import time
from urllib.parse import urlencode

import jwt
import pytest
from sqlalchemy import select
from sqlmodel import col

from lib.db import get_engine
from lib.models import EmailOutbox
from tests.fixtures.deployment import api_functions, served_routes
from tests.fixtures.lambda_events import Response
from tests.fixtures.users import PASSWORD
from tests.fixtures.vercel import VercelDeployment

JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
# Starting every function process (or Node) on a busy two-core machine takes a while.
pytestmark = pytest.mark.timeout(600)
JWKS_CACHE = "public, max-age=300, s-maxage=3600, stale-while-revalidate=86400"


def _email_state_soon(address: str) -> str | None:
    """The state of the last email to `address` once it has left `pending` (or after 20 s)."""

    async def state() -> str | None:
        async with get_engine().connect() as connection:
            found = await connection.execute(
                select(col(EmailOutbox.state))
                .where(col(EmailOutbox.address) == address)
                .order_by(col(EmailOutbox.created_at).desc())
            )
            return found.scalars().first()

    deadline = time.monotonic() + 20
    while (current := asyncio.run(state())) in (None, "pending") and time.monotonic() < deadline:
        time.sleep(0.1)
    return current


def _json(response: Response) -> dict[str, object]:
    return json.loads(response.body)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", api_functions())
def test_every_route_is_served_through_the_bootstrap(vercel: VercelDeployment, name: str) -> None:
    for route in served_routes(name):
        response = vercel.request(route.method, route.sample_path)
        assert response.status not in (404, 405), f"{route.method} {route.path}: {response.status} {response.body!r}"


def test_account_flow_through_the_functions(vercel: VercelDeployment) -> None:
    signed_up = vercel.request(
        "POST",
        "/api/v1/sign-up",
        headers=JSON,
        body=json.dumps({"email": "vera@example.com", "username": "vera", "password": PASSWORD}).encode(),
    )
    assert signed_up.status == 201, signed_up.body
    assert signed_up.header("cache-control") == "no-store"
    assert _email_state_soon("vera@example.com") == "sent"  # after the answer, kept alive by wait_until

    login = vercel.request(
        "POST", "/api/v1/login", headers=FORM, body=urlencode({"username": "vera", "password": PASSWORD}).encode()
    )
    assert login.status == 200, login.body
    pair = _json(login)
    bearer = {"authorization": f"Bearer {pair['access_token']}"}

    me = vercel.request("GET", "/api/v1/user/me", headers=bearer)
    assert me.status == 200, me.body
    assert _json(me)["email"] == "vera@example.com"

    refreshed = vercel.request(
        "POST", "/api/v1/refresh", headers=JSON, body=json.dumps({"refresh_token": pair["refresh_token"]}).encode()
    )
    assert refreshed.status == 200, refreshed.body
    new_pair = _json(refreshed)
    assert new_pair["refresh_token"] != pair["refresh_token"]

    grant = urlencode({"grant_type": "refresh_token", "refresh_token": new_pair["refresh_token"]}).encode()
    granted = vercel.request("POST", "/api/v1/login", headers=FORM, body=grant)
    assert granted.status == 200, granted.body
    assert _json(granted)["refresh_token"] != new_pair["refresh_token"]

    new_pair = _json(granted)
    new_bearer = {"authorization": f"Bearer {new_pair['access_token']}"}
    assert vercel.request("POST", "/api/v1/logout", headers=new_bearer).status == 204
    assert vercel.request("GET", "/api/v1/user/me", headers=new_bearer).status == 401
    again = vercel.request(
        "POST", "/api/v1/refresh", headers=JSON, body=json.dumps({"refresh_token": new_pair["refresh_token"]}).encode()
    )
    assert again.status == 401
    revoked = vercel.request("POST", "/api/v1/revoke", headers=FORM, body=urlencode({"token": "unknown"}).encode())
    assert (revoked.status, revoked.body) == (200, b"")

    # Another service verifies our access tokens with nothing but the published key set.
    jwks = vercel.request("GET", "/.well-known/jwks.json")
    keys = jwt.PyJWKSet.from_dict(_json(jwks))
    token = str(new_pair["access_token"])
    key = next(k for k in keys.keys if k.key_id == jwt.get_unverified_header(token)["kid"])
    claims = jwt.decode(
        token, key.key, algorithms=["RS256"], audience=os.environ["JWT_AUDIENCE"], issuer=os.environ["JWT_ISSUER"]
    )
    assert claims["type"] == "access"


def test_well_known_documents_carry_cdn_cache_headers(vercel: VercelDeployment) -> None:
    jwks = vercel.request("GET", "/.well-known/jwks.json")
    assert jwks.status == 200
    assert jwks.header("cache-control") == JWKS_CACHE
    assert _json(jwks)["keys"]
    etag = jwks.header("etag")
    assert etag
    not_modified = vercel.request("GET", "/.well-known/jwks.json", headers={"if-none-match": etag})
    assert not_modified.status == 304
    assert not_modified.body == b""

    discovery = vercel.request("GET", "/.well-known/openid-configuration")
    assert discovery.status == 200
    assert discovery.header("cache-control") == JWKS_CACHE
    assert _json(discovery)["jwks_uri"] == f"{os.environ['JWT_ISSUER']}/.well-known/jwks.json"
