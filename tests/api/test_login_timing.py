"""Login takes about as long for an unknown account as for a wrong password (a dummy hash is verified)."""

from __future__ import annotations

import statistics
import time

import httpx

from tests.fixtures.users import UserFactory

SAMPLES = 200


async def test_unknown_account_and_wrong_password_take_about_the_same_time(
    client: httpx.AsyncClient, users: UserFactory, settings_env: object
) -> None:
    settings_env(LOGIN_MAX_FAILURES="100000", LOGIN_MAX_FAILURES_PER_IP="100000")  # type: ignore[operator]
    user = await users.sign_up()
    durations: dict[str, list[float]] = {"unknown": [], "wrong": []}
    attempts = {"unknown": "nobody-by-this-name", "wrong": user.username}
    for n in range(SAMPLES + 10):
        order = ("unknown", "wrong") if n % 2 else ("wrong", "unknown")  # interleaved, alternating first
        for kind in order:
            started = time.perf_counter()
            response = await client.post("/api/v1/login", data={"username": attempts[kind], "password": "wrong pass"})
            elapsed = time.perf_counter() - started
            assert response.status_code == 401
            if n >= 10:  # the first few warm caches and connections
                durations[kind].append(elapsed)
    unknown, wrong = statistics.median(durations["unknown"]), statistics.median(durations["wrong"])
    difference = abs(unknown - wrong) / min(unknown, wrong)
    print(f"median login: unknown account {unknown * 1000:.2f} ms, wrong password {wrong * 1000:.2f} ms")
    assert difference < 0.20, f"unknown {unknown * 1000:.2f} ms vs wrong password {wrong * 1000:.2f} ms"
