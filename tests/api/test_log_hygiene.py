"""A whole flow's logs, captured and searched: no password, token, token hash or password hash."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from lib.db import get_engine
from lib.models import User
from lib.security.digest import token_digest
from tests.fixtures.app import SettingsEnv
from tests.fixtures.logs import log_lines, parse_log_lines
from tests.fixtures.users import bearer

PASSWORD = "Tr0ub4dor & 3 horses"
WRONG_PASSWORD = "my other secret passphrase"


async def test_logs_of_a_whole_flow_hold_no_secret(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], settings_env: SettingsEnv
) -> None:
    settings_env(LOGIN_MAX_FAILURES="2", LOGIN_MAX_FAILURES_PER_IP="100", REFRESH_REUSE_GRACE_SECONDS="0")
    log_lines(capsys)
    secrets: list[str] = [PASSWORD, WRONG_PASSWORD]
    responses: list[httpx.Response] = []

    async def call(method: str, path: str, **kwargs: object) -> httpx.Response:
        response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
        responses.append(response)
        for name in ("access_token", "refresh_token"):
            if response.headers.get("content-type") == "application/json" and name in response.json():
                secrets.append(response.json()[name])
        return response

    signed_up = await call(
        "POST", "/api/v1/sign-up", json={"email": "flow@example.com", "username": "flow", "password": PASSWORD}
    )
    assert signed_up.status_code == 201
    assert (await call("POST", "/api/v1/sign-up", json={"email": "bad", "password": PASSWORD})).status_code == 422
    first_refresh = signed_up.json()["refresh_token"]
    logged_in = await call("POST", "/api/v1/login", data={"username": "flow", "password": PASSWORD})
    assert logged_in.status_code == 200
    access = logged_in.json()["access_token"]
    assert (await call("GET", "/api/v1/user/me", headers=bearer(access))).status_code == 200
    rotated = await call("POST", "/api/v1/refresh", json={"refresh_token": logged_in.json()["refresh_token"]})
    assert rotated.status_code == 200
    reused = await call("POST", "/api/v1/refresh", json={"refresh_token": logged_in.json()["refresh_token"]})
    assert reused.status_code == 401
    assert (await call("POST", "/api/v1/refresh", json={"refresh_token": first_refresh})).status_code == 401
    assert (await call("GET", "/api/v1/user/me", headers=bearer(access + "x"))).status_code == 401
    again = await call("POST", "/api/v1/login", data={"username": "flow", "password": PASSWORD})
    assert again.status_code == 200
    assert (await call("POST", "/api/v1/logout", headers=bearer(again.json()["access_token"]))).status_code == 204
    for _ in range(2):
        failed = await call("POST", "/api/v1/login", json={"username": "flow@example.com", "password": WRONG_PASSWORD})
        assert failed.status_code == 401
    throttled = await call("POST", "/api/v1/login", json={"username": "flow@example.com", "password": PASSWORD})
    assert throttled.status_code == 429

    async with get_engine().connect() as connection:
        password_hash = (await connection.execute(select(User.hashed_password))).scalar_one()
    secrets += [password_hash, password_hash.rsplit("$", 1)[-1]]
    secrets += [token_digest(token) for token in list(secrets) if token.count(".") == 2]
    secrets += [token.split(".")[2] for token in list(secrets) if token.count(".") == 2]  # signatures alone

    captured = capsys.readouterr()
    text = captured.out + captured.err
    lines = parse_log_lines(captured.out)
    for secret in secrets:
        assert secret not in text, f"a secret appears in the logs: {secret[:12]}..."

    requests = [line for line in lines if line["event"] == "request"]
    assert [line["request_id"] for line in requests] == [r.headers["x-request-id"] for r in responses]
    assert [line["status"] for line in requests] == [r.status_code for r in responses]
    events = [line["event"] for line in lines if line["event"] != "request"]
    assert events.count("login_failure") == 2
    assert {"login", "refresh_reuse_detected", "login_throttled", "logout"} <= set(events)
