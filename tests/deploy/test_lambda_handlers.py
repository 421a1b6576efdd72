"""Each function's Lambda `handler` invoked with the events AWS sends from each HTTP source."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.fixtures.deployment import lambda_function_for, serverless_config
from tests.fixtures.lambda_events import EVENT_SOURCES, Event, Request, Response, decode_response, invoke
from tests.fixtures.users import PASSWORD

JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
COOKIES = {"theme": "dark", "consent": "yes"}


class LambdaDeployment:
    """Requests at public paths, routed as serverless.yml says, delivered as `source` events."""

    def __init__(self, make_event: Callable[[Request], Event]) -> None:
        self.make_event = make_event

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes = b"") -> Response:
        key = lambda_function_for(method, url.partition("?")[0])
        assert key is not None, f"no HTTP API route for {method} {url}"
        module_path, _, attribute = serverless_config()["functions"][key]["handler"].rpartition(".")
        handler: Any = getattr(importlib.import_module(module_path.replace("/", ".")), attribute)
        event = self.make_event(Request(method, url, headers=headers or {}, body=body, cookies=COOKIES))
        return decode_response(invoke(handler, event))


@pytest.fixture(params=sorted(EVENT_SOURCES))
def aws(request: pytest.FixtureRequest) -> LambdaDeployment:
    return LambdaDeployment(EVENT_SOURCES[request.param])


def test_account_flow_through_the_handlers(aws: LambdaDeployment) -> None:
    signed_up = aws.request(
        "POST",
        "/api/v1/sign-up",
        headers=JSON,
        body=json.dumps(
            {"email": "lam@example.com", "username": "lambda_user", "password": PASSWORD, "first_name": "Zoë"}
        ).encode(),
    )
    assert signed_up.status == 201, signed_up.body
    assert signed_up.header("cache-control") == "no-store"

    login = aws.request(
        "POST",
        "/api/v1/login",
        headers=FORM,
        body=urlencode({"username": "lam@example.com", "password": PASSWORD}).encode(),
    )
    assert login.status == 200, login.body
    pair = login.json()
    bearer = {"authorization": f"Bearer {pair['access_token']}"}

    me = aws.request("GET", "/api/v1/user/me?fields=all", headers=bearer)
    assert me.status == 200, me.body
    assert me.json()["email"] == "lam@example.com"
    assert me.json()["first_name"] == "Zoë"

    refreshed = aws.request(
        "POST", "/api/v1/refresh", headers=JSON, body=json.dumps({"refresh_token": pair["refresh_token"]}).encode()
    )
    assert refreshed.status == 200, refreshed.body
    new_pair = refreshed.json()

    new_bearer = {"authorization": f"Bearer {new_pair['access_token']}"}
    logout = aws.request("POST", "/api/v1/logout", headers=new_bearer)
    assert logout.status == 204
    assert logout.body == b""
    rejected = aws.request("GET", "/api/v1/user/me", headers=new_bearer)
    assert rejected.status == 401
    assert rejected.header("www-authenticate") is not None
    assert (
        aws.request(
            "POST",
            "/api/v1/refresh",
            headers=JSON,
            body=json.dumps({"refresh_token": new_pair["refresh_token"]}).encode(),
        ).status
        == 401
    )


def test_refresh_grant_and_revocation_through_the_handlers(aws: LambdaDeployment) -> None:
    signed_up = aws.request(
        "POST",
        "/api/v1/sign-up",
        headers=JSON,
        body=json.dumps({"email": "rev@example.com", "username": "revoker", "password": PASSWORD}).encode(),
    )
    assert signed_up.status == 201, signed_up.body
    grant = {"grant_type": "refresh_token", "refresh_token": signed_up.json()["refresh_token"]}
    refreshed = aws.request("POST", "/api/v1/login", headers=FORM, body=urlencode(grant).encode())
    assert refreshed.status == 200, refreshed.body
    pair = refreshed.json()

    revoked = aws.request(
        "POST", "/api/v1/revoke", headers=FORM, body=urlencode({"token": pair["refresh_token"]}).encode()
    )
    assert revoked.status == 200, revoked.body
    bearer = {"authorization": f"Bearer {pair['access_token']}"}
    assert aws.request("GET", "/api/v1/user/me", headers=bearer).status == 401
    again = {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    refused = aws.request("POST", "/api/v1/login", headers=FORM, body=urlencode(again).encode())
    assert refused.status == 400  # a token request (it names grant_type): RFC 6749 5.2, no Bearer challenge
    assert refused.json()["error"] == "invalid_grant"


def test_jwks_through_the_handler(aws: LambdaDeployment) -> None:
    jwks = aws.request("GET", "/.well-known/jwks.json")
    assert jwks.status == 200
    assert jwks.header("cache-control") == "public, max-age=300, s-maxage=3600, stale-while-revalidate=86400"
    assert [key["alg"] for key in jwks.json()["keys"]] == ["RS256"]
    etag = jwks.header("etag")
    assert etag
    assert aws.request("GET", "/.well-known/jwks.json", headers={"if-none-match": etag}).status == 304


def test_errors_keep_their_json_shape(aws: LambdaDeployment) -> None:
    response = aws.request(
        "POST",
        "/api/v1/login",
        headers=FORM,
        body=urlencode({"username": "nobody", "password": "wrong password"}).encode(),
    )
    assert response.status == 401
    assert response.json() == {
        "detail": "Incorrect username or password",
        "code": "invalid_credentials",
        "error": "invalid_grant",
        "error_description": "Incorrect username or password",
    }
