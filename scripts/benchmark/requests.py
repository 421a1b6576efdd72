"""Login, /user/me and refresh served in-process by their functions, each beside its floor."""

from __future__ import annotations

import contextlib
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from scripts.benchmark.environment import argon2_parameters, asyncpg_dsn
from scripts.benchmark.fixtures import Fixtures, login_request, request
from scripts.benchmark.plan import PASSWORD, Plan, worker
from scripts.benchmark.worker import call_asgi


@contextlib.contextmanager
def timed_password_checks() -> Iterator[list[float]]:
    """The milliseconds of each password check the login function makes meanwhile, so that a
    login's own time (its time minus its hash check) is measured without Argon2's jitter."""
    import lib.security.passwords as passwords

    original = passwords.verify_password
    checks: list[float] = []

    async def timed(password: str, hashed: str | None) -> tuple[bool, str | None]:
        start = time.perf_counter()
        try:
            return await original(password, hashed)
        finally:
            checks.append((time.perf_counter() - start) * 1000)

    passwords.verify_password = timed
    try:
        yield checks
    finally:
        passwords.verify_password = original


async def serve(app: Any, sent: dict[str, Any]) -> tuple[bytes, float]:
    """One request through `app` in-process, which must answer 200: (body, milliseconds)."""
    status, answer, elapsed = await call_asgi(app, sent["method"], sent["path"], sent["headers"], sent["body"].encode())
    if status != 200:
        raise RuntimeError(f"{sent['path']} answered {status}: {answer[:200]!r}")
    return answer, elapsed


async def measure_login(plan: Plan, fixtures: Fixtures) -> dict[str, Any]:
    """Login p50 beside one Argon2 verify with the same parameters, alternated; the login's own time."""
    from argon2 import PasswordHasher

    import api.login

    time_cost, memory_cost, parallelism = argon2_parameters()
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    stored = hasher.hash(PASSWORD)
    sent = login_request(await fixtures.identity())
    logins: list[float] = []
    verifies: list[float] = []
    own: list[float] = []
    with timed_password_checks() as checks:
        await call_asgi(api.login.app, "POST", sent["path"], sent["headers"], sent["body"].encode())
        for _ in range(plan.logins):
            checks.clear()
            _answer, elapsed = await serve(api.login.app, sent)
            logins.append(elapsed)
            own.append(elapsed - sum(checks))
            start = time.perf_counter()
            hasher.verify(stored, PASSWORD)
            verifies.append((time.perf_counter() - start) * 1000)
    p50, argon2_ms = statistics.median(logins), statistics.median(verifies)
    return {
        "p50_ms": p50,
        "argon2_verify_ms": argon2_ms,
        "overhead_ms": p50 - argon2_ms,
        "own_p50_ms": statistics.median(own),
        **counted_round_trips("login", [login_request(await fixtures.identity())] * 2),
    }


def counted_round_trips(name: str, requests: list[dict[str, Any]], *, expected: int = 200) -> dict[str, Any]:
    """Round trips to PgBouncer per request, connects included, counted by a TCP proxy in front of it
    (roundtrips.py): two requests through the function `name` in a fresh process; the second one's
    round trips, connects and messages, and the first one's round trips (the engine's first connect
    included). What a request does after its answer (an email sent from the outbox) counts too."""
    result = worker("round-trips", name, json.dumps({"requests": requests}))
    if result["statuses"] != [expected, expected]:
        raise RuntimeError(f"{name} through the counting proxy answered {result['statuses']}")
    first, steady = result["requests"]
    return {
        "round_trips": steady["round_trips"],
        "connects": steady["connections"],
        "messages": steady["messages"],
        "first_round_trips": first["round_trips"],
    }


async def beside_floor(
    mine: Callable[[], Awaitable[float]], floor: Callable[[], Awaitable[float]], count: int
) -> dict[str, float]:
    """p50 of `mine` and of `floor`, alternated so that both see the same moments of the machine."""
    await mine()
    await floor()
    ours: list[float] = []
    floors: list[float] = []
    for _ in range(count):
        ours.append(await mine())
        floors.append(await floor())
    p50, floor_ms = statistics.median(ours), statistics.median(floors)
    return {"p50_ms": p50, "floor_ms": floor_ms, "ratio": p50 / floor_ms}


async def timed_statement(statement: str, *args: object, expect_row: bool = True) -> float:
    """Milliseconds of a raw asyncpg connect through PgBouncer, one statement, and close."""
    import asyncpg

    dsn, connect_args = asyncpg_dsn()
    start = time.perf_counter()
    connection = await asyncpg.connect(dsn, **connect_args)
    try:
        row = await connection.fetchrow(statement, *args)
    finally:
        await connection.close()
    if expect_row and row is None:
        raise RuntimeError(f"the floor's statement found no row: {statement}")
    return (time.perf_counter() - start) * 1000


async def measure_me(plan: Plan, fixtures: Fixtures) -> dict[str, float]:
    """/user/me beside its floor: connect, read the user's row, close."""
    import api.me

    who = await fixtures.identity()
    sent = request("GET", "/api/v1/user/me", token=who.access_token)

    async def me() -> float:
        return (await serve(api.me.app, sent))[1]

    async def floor() -> float:
        return await timed_statement("SELECT * FROM users WHERE id = $1", who.user_id)

    return await beside_floor(me, floor, plan.me_requests)


async def measure_refresh(plan: Plan, fixtures: Fixtures) -> dict[str, Any]:
    """Refresh-token rotation through the refresh function beside its floor: one asyncpg connect,
    one conditional UPDATE of a refresh token, close, through PgBouncer, alternated."""
    import api.refresh
    from lib.security.tokens import decode_token

    who = await fixtures.identity()
    token_id = uuid.UUID(str(decode_token(who.refresh_token, "refresh")["jti"]))
    presented = who.refresh_token

    async def rotate() -> float:
        nonlocal presented
        answer, elapsed = await serve(api.refresh.app, refresh_request(presented))
        presented = json.loads(answer)["refresh_token"]
        return elapsed

    async def floor() -> float:
        statement = "UPDATE refresh_tokens SET used_at = now() WHERE id = $1 AND used_at IS NULL RETURNING id"
        return await timed_statement(statement, token_id, expect_row=False)

    figures: dict[str, Any] = dict(await beside_floor(rotate, floor, plan.me_requests // 2))
    two_sessions = [refresh_request((await fixtures.identity()).refresh_token) for _ in range(2)]
    return {**figures, **counted_round_trips("refresh", two_sessions)}


def refresh_request(token: str) -> dict[str, Any]:
    return request("POST", "/api/v1/refresh", json_body={"refresh_token": token})


async def measure_connections(fixtures: Fixtures) -> dict[str, Any]:
    """Round trips and connects of a sign-up and of a forgot-password request, the email each
    queues sent after the answer included (two new accounts; two users, each asking once)."""
    sign_ups = []
    for _ in range(2):
        tag = uuid.uuid4().hex[:12]
        payload = {"email": f"count-{tag}@example.com", "username": f"count_{tag}", "password": PASSWORD}
        sign_ups.append(request("POST", "/api/v1/sign-up", json_body=payload))
    forgotten = [
        request("POST", "/api/v1/forgot-password", json_body={"email": (await fixtures.identity()).email})
        for _ in range(2)
    ]
    return {
        "sign_up": counted_round_trips("sign_up", sign_ups, expected=201),
        "forgot_password": counted_round_trips("forgot_password", forgotten, expected=202),
    }
