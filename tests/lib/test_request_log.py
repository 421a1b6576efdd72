from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from api import jwks
from tests.fixtures.logs import log_lines


async def test_one_json_line_per_request_with_an_echoed_id(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    log_lines(capsys)
    response = await client.get("/api/v1/health?secret=not-logged")
    request_id = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    [line] = [line for line in log_lines(capsys) if line["event"] == "request"]
    assert line["request_id"] == request_id
    assert line["method"] == "GET"
    assert line["path"] == "/api/v1/health"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "info"
    assert "not-logged" not in str(line)


async def test_request_ids_differ(client: httpx.AsyncClient) -> None:
    first, second = await asyncio.gather(client.get("/api/v1/health"), client.get("/api/v1/health"))
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


VERCEL_ID = "fra1::iad1::abcde-1764350000000-0123456789ab"


@pytest.mark.parametrize("variable", ["VERCEL", "VERCEL_ENV"])
async def test_vercel_id_is_used_on_vercel(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "1" if variable == "VERCEL" else "production")
    response = await client.get("/api/v1/health", headers={"x-vercel-id": VERCEL_ID})
    assert response.headers.get_list("x-request-id") == [VERCEL_ID]
    assert [line["request_id"] for line in log_lines(capsys) if line["event"] == "request"] == [VERCEL_ID]


@pytest.mark.parametrize("path", ["/api/v1/health", "/.well-known/jwks.json"])
async def test_a_client_sent_vercel_id_is_ignored_off_vercel(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.delenv("VERCEL", raising=False)
    monkeypatch.delenv("VERCEL_ENV", raising=False)
    log_lines(capsys)
    response = await client.get(path, headers={"x-vercel-id": VERCEL_ID})
    [request_id] = response.headers.get_list("x-request-id")
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert [line["request_id"] for line in log_lines(capsys) if line["event"] == "request"] == [request_id]


async def test_malformed_vercel_id_is_replaced(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERCEL", "1")
    response = await client.get("/api/v1/health", headers={"x-vercel-id": 'x"}\n{"forged": 1'})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


@pytest.mark.parametrize("path", ["/.well-known/jwks.json", "/.well-known/openid-configuration"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_local_well_known_responses_carry_one_request_id(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], path: str, method: str
) -> None:
    log_lines(capsys)
    response = await client.request(method, path)
    assert response.status_code == 200
    [request_id] = response.headers.get_list("x-request-id")
    assert [line["request_id"] for line in log_lines(capsys) if line["event"] == "request"] == [request_id]


async def test_security_events_carry_the_request_id(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    log_lines(capsys)
    response = await client.post("/api/v1/login", data={"username": "nobody", "password": "wrong password"})
    assert response.status_code == 401
    lines = log_lines(capsys)
    [failure] = [line for line in lines if line["event"] == "login_failure"]
    assert failure["request_id"] == response.headers["x-request-id"]
    assert failure["reason"] == "unknown_account"
    assert failure["level"] == "info"


def lambda_event(path: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "abc.execute-api.us-east-1.amazonaws.com"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": "abc.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "t",
            },
            "requestId": "gateway-id",
            "routeKey": "$default",
            "stage": "$default",
            "time": "28/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1795867200000,
        },
        "isBase64Encoded": False,
    }


def test_lambda_request_id_is_used(capsys: pytest.CaptureFixture[str]) -> None:
    context = SimpleNamespace(aws_request_id="8f5e2c1a-3b4d-4e6f-9a7b-0c1d2e3f4a5b")
    response = jwks.handler(lambda_event("/.well-known/jwks.json"), context)
    assert response["statusCode"] == 200
    assert response["headers"]["x-request-id"] == context.aws_request_id
    [line] = [line for line in log_lines(capsys) if line["event"] == "request"]
    assert line["request_id"] == context.aws_request_id
    assert line["path"] == "/.well-known/jwks.json"
