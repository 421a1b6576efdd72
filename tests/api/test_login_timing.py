"""Login takes about as long for an unknown account as for a wrong password (a dummy hash is verified).

The suite's usual Argon2 parameters make a verification cost about a millisecond, less than a
request's own noise, so a login that skipped the dummy hash would pass unseen. This test runs at
OWASP's minimum (19 MiB, t=2), where a verification dominates the request.
"""

from __future__ import annotations

import statistics
import time

import httpx

from tests.fixtures.app import SettingsEnv
from tests.fixtures.users import UserFactory

SAMPLES = 40


async def test_unknown_account_and_wrong_password_take_about_the_same_time(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(
        LOGIN_MAX_FAILURES="100000",
        LOGIN_MAX_FAILURES_PER_IP="100000",
        PASSWORD_ARGON2_MEMORY_COST="19456",
        PASSWORD_ARGON2_TIME_COST="2",
        PASSWORD_ARGON2_PARALLELISM="1",
    )
    user = await users.sign_up()
    durations: dict[str, list[float]] = {"unknown": [], "wrong": []}
    attempts = {"unknown": "nobody-by-this-name", "wrong": user.username}
    for n in range(SAMPLES + 4):
        order = ("unknown", "wrong") if n % 2 else ("wrong", "unknown")  # interleaved, alternating first
        for kind in order:
            started = time.perf_counter()
            response = await client.post("/api/v1/login", data={"username": attempts[kind], "password": "wrong pass"})
            elapsed = time.perf_counter() - started
            assert response.status_code == 401
            if n >= 4:  # the first few warm caches and connections
                durations[kind].append(elapsed)
    unknown, wrong = statistics.median(durations["unknown"]), statistics.median(durations["wrong"])
    difference = abs(unknown - wrong) / min(unknown, wrong)
    print(f"median login: unknown account {unknown * 1000:.2f} ms, wrong password {wrong * 1000:.2f} ms")
    assert difference < 0.20, f"unknown {unknown * 1000:.2f} ms vs wrong password {wrong * 1000:.2f} ms"
