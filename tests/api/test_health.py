from __future__ import annotations

from unittest.mock import ANY

import httpx
import pytest

from tests.fixtures.app import SettingsEnv, make_client
from tests.fixtures.live import free_port
from tests.fixtures.users import PASSWORD

UNREACHABLE = {
    "postgres_closed_port": lambda: f"postgresql://auth:pw@127.0.0.1:{free_port()}/auth?sslmode=disable",
    "sqlite_missing_directory": lambda: "sqlite+aiosqlite:////nonexistent-dir/for/sure/auth.db",
}


async def test_health_reports_database_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("kind", sorted(UNREACHABLE))
async def test_unreachable_database_gives_503_with_retry_after(settings_env: SettingsEnv, kind: str) -> None:
    settings_env(DATABASE_URL=UNREACHABLE[kind](), DATABASE_CONNECT_TIMEOUT="2")
    async with make_client() as client:
        requests = [
            client.get("/api/v1/health"),
            client.post("/api/v1/login", data={"username": "someone", "password": PASSWORD}),
            client.post("/api/v1/sign-up", json={"email": "a@example.com", "username": "abc", "password": PASSWORD}),
        ]
        for request in requests:
            response = await request
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"].isdigit()
            body = response.json()
            assert {name: body.pop(name) for name in ("detail", "code")} == {
                "detail": "The database is unavailable; try again shortly",
                "code": "database_unavailable",
            }
            token_endpoint = str(response.request.url).endswith("/api/v1/login")
            assert body == ({"error": "temporarily_unavailable", "error_description": ANY} if token_endpoint else {})
            assert "Traceback" not in response.text


async def test_unknown_path_and_method_give_json_errors(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    wrong_method = await client.get("/api/v1/login")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"


async def test_cors_preflight_and_request_from_allowed_origin(client: httpx.AsyncClient) -> None:
    origin = "https://app.example.com"
    preflight = await client.options(
        "/api/v1/login",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    response = await client.get("/api/v1/health", headers={"Origin": origin})
    assert response.headers["access-control-allow-origin"] == origin


async def test_cors_refuses_unlisted_origin(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/api/v1/login",
        headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    response = await client.get("/api/v1/health", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in response.headers


async def test_oversized_body_is_refused_with_413(client: httpx.AsyncClient) -> None:
    big = {"email": "big@example.com", "username": "big", "password": "x" * 200_000}
    response = await client.post("/api/v1/sign-up", json=big)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_oversized_chunked_body_is_refused_with_413(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b"x" * 1024

    response = await client.post("/api/v1/login", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
