"""The performance benchmark: every figure beside the baseline it is judged against.

Run it through `scripts/bench`, which starts PostgreSQL behind PgBouncer (transaction
mode) and sets DATABASE_URL. Measures cold starts of every `api/*.py` function, the
token path, login, `/user/me` and a mixed load; prints a table; `--json PATH` writes
the figures. Password hashing uses the production defaults of the settings.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import compileall
import contextlib
import json
import os
import pkgutil
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "scripts" / "bench_worker.py"
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Plan:
    runs: int  # fresh processes per function (init and first request)
    warm_requests: int  # requests after the first one, in the same process
    token_iterations: int
    logins: int
    me_requests: int
    load_requests: int
    concurrency: int = 32


FULL = Plan(runs=5, warm_requests=5, token_iterations=500, logins=20, me_requests=200, load_requests=2000)
# The quick load runs every step of each client's pattern (MFA clients' included) at least once.
QUICK = Plan(runs=1, warm_requests=2, token_iterations=30, logins=2, me_requests=10, load_requests=64, concurrency=4)


@dataclass
class Identity:
    email: str
    username: str
    access_token: str
    refresh_token: str
    user_id: uuid.UUID


@dataclass
class Figures:
    cold_start: dict[str, dict[str, float]] = field(default_factory=dict)
    init_wall_ms: dict[str, float] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    fastapi_import_ms: float = 0.0
    local_app_init_ms: float = 0.0
    libraries_init_ms: float = 0.0
    token: dict[str, float] = field(default_factory=dict)
    login: dict[str, float] = field(default_factory=dict)
    me: dict[str, float] = field(default_factory=dict)
    refresh: dict[str, float] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)
    argon2: str = ""


# What any function with a database session imports, before a line of ours: the floor of its init.
DATABASE_FUNCTION_LIBRARIES = (
    "fastapi,mangum,pydantic_settings,sqlmodel,sqlalchemy.ext.asyncio,sqlalchemy.dialects.postgresql.asyncpg,asyncpg"
)


# Lambda-only queue consumers (api/_local.py's QUEUE_CONSUMERS): no HTTP app to start.
QUEUE_CONSUMERS = frozenset({"mailer"})


def function_names() -> list[str]:
    """The HTTP functions of `api/`."""
    return sorted(
        m.name
        for m in pkgutil.iter_modules([str(ROOT / "api")])
        if not m.name.startswith("_") and m.name not in QUEUE_CONSUMERS
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- environment -----------------------------------------------------------------------


CRON_SECRET = "bench-cron-secret"


def prepare_environment() -> None:
    """Settings defaults (production Argon2 parameters) with a fresh key and the given database."""
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from lib.config import Settings

    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        raise SystemExit("DATABASE_URL must name PostgreSQL behind PgBouncer (run scripts/bench, which starts them)")
    for name in Settings.model_fields:
        if name != "DATABASE_URL":
            os.environ.pop(name, None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    os.environ.update(
        ENV_FILE="",
        ENVIRONMENT="development",
        RSA_PRIVATE_KEY_CONTENT=base64.b64encode(pem).decode("ascii"),
        CRON_SECRET=CRON_SECRET,
        MFA_ENCRYPTION_KEY=Fernet.generate_key().decode("ascii"),  # two-factor login encrypts its secrets
        PYTHONWARNINGS="ignore",
    )


def migrate() -> None:
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, check=True, capture_output=True)


# --- fixtures ----------------------------------------------------------------------------


class Fixtures:
    """Users created straight in the database (one hash reused), each with a live session."""

    def __init__(self) -> None:
        self.hashed: str | None = None
        self.counter = 0

    async def identity(self, role: str = "user") -> Identity:
        from sqlalchemy.ext.asyncio import AsyncSession

        from lib.db import get_engine
        from lib.models import User
        from lib.security.passwords import hash_password
        from lib.sessions.lifecycle import ClientInfo, start_session

        if self.hashed is None:
            self.hashed = await hash_password(PASSWORD)
        self.counter += 1
        tag = f"{uuid.uuid4().hex[:10]}{self.counter}"
        async with AsyncSession(get_engine(), expire_on_commit=False) as session:
            user = User(
                email=f"bench-{tag}@example.com", username=f"bench_{tag}", hashed_password=self.hashed, role=role
            )
            session.add(user)
            await session.flush()
            pair = await start_session(session, user=user, client=ClientInfo(user_agent="bench"))
            await session.commit()
        return Identity(user.email, user.username, pair.access_token, pair.refresh_token, user.id)

    async def mfa_challenge(self) -> tuple[str, list[str]]:
        """A user who turned two-factor login on through the functions' own endpoints: the
        `mfa_token` its password step answers with, and its ten recovery codes."""
        import pyotp

        import api.login
        import api.mfa
        from scripts.bench_worker import call_asgi

        async def call(app: Any, request: dict[str, Any], expected: int) -> dict[str, Any]:
            status, answer, _ = await call_asgi(
                app, request["method"], request["path"], request["headers"], request["body"].encode()
            )
            if status != expected:
                raise RuntimeError(f"{request['path']} answered {status}: {answer[:200]!r}")
            body: dict[str, Any] = json.loads(answer)
            return body

        who = await self.identity()
        start = _request("POST", "/api/v1/user/me/mfa/totp", token=who.access_token, json_body={"password": PASSWORD})
        secret = (await call(api.mfa.app, start, 200))["secret"]
        code = {"code": pyotp.TOTP(secret).now()}
        confirm = _request("POST", "/api/v1/user/me/mfa/totp/confirm", token=who.access_token, json_body=code)
        codes = list((await call(api.mfa.app, confirm, 200))["recovery_codes"])
        login = _request("POST", "/api/v1/login", form={"username": who.email, "password": PASSWORD})
        return str((await call(api.login.app, login, 403))["mfa_token"]), codes


def _request(
    method: str, path: str, *, token: str | None = None, json_body: object = None, form: dict[str, str] | None = None
) -> dict[str, Any]:
    headers: list[list[str]] = []
    body = ""
    if token:
        headers.append(["authorization", f"Bearer {token}"])
    if json_body is not None:
        headers.append(["content-type", "application/json"])
        body = json.dumps(json_body)
    elif form is not None:
        from urllib.parse import urlencode

        headers.append(["content-type", "application/x-www-form-urlencoded"])
        body = urlencode(form)
    return {"method": method, "path": path, "headers": headers, "body": body}


def _route_of(name: str) -> tuple[str, str] | None:
    """(method, path) of the first route of an unknown function, path parameters filled with a UUID."""
    import importlib
    import re

    module = importlib.import_module(f"api.{name}")
    router = getattr(module, "router", None)
    for route in getattr(router, "routes", []):
        methods = sorted(getattr(route, "methods", None) or [])
        if methods:
            method = "GET" if "GET" in methods else methods[0]
            return method, re.sub(r"\{[^}]+\}", str(uuid.uuid4()), route.path)
    return None


async def scenario(name: str, count: int, fixtures: Fixtures) -> dict[str, Any]:
    """`count` requests that mean the same thing, for one function's first and warm requests."""
    if name == "jwks":
        return {"requests": [_request("GET", "/.well-known/jwks.json")] * count}
    if name == "health":
        return {"requests": [_request("GET", "/api/v1/health")] * count}
    if name == "sign_up":
        requests = []
        for _ in range(count):
            tag = uuid.uuid4().hex[:12]
            payload = {"email": f"new-{tag}@example.com", "username": f"new_{tag}", "password": PASSWORD}
            requests.append(_request("POST", "/api/v1/sign-up", json_body=payload))
        return {"requests": requests}
    if name == "login":
        who = await fixtures.identity()
        return {
            "requests": [_request("POST", "/api/v1/login", form={"username": who.email, "password": PASSWORD})] * count
        }
    if name == "refresh":
        who = await fixtures.identity()
        return {
            "requests": [_request("POST", "/api/v1/refresh", json_body={"refresh_token": who.refresh_token})] * count,
            "chain_refresh": True,
        }
    if name == "revoke":  # each revocation ends a session, so each request revokes its own user's token
        return {
            "requests": [
                _request("POST", "/api/v1/revoke", form={"token": (await fixtures.identity()).refresh_token})
                for _ in range(count)
            ]
        }
    if name == "logout":  # each logout ends its user's sessions, so each request gets its own user
        return {
            "requests": [
                _request("POST", "/api/v1/logout", token=(await fixtures.identity()).access_token) for _ in range(count)
            ]
        }
    if name == "forgot_password":  # one address each: a second request within a minute sends nothing
        return {
            "requests": [
                _request("POST", "/api/v1/forgot-password", json_body={"email": (await fixtures.identity()).email})
                for _ in range(count)
            ]
        }
    if name == "change_password":  # each change ends its user's sessions, so each request gets its own user
        body = {"current_password": PASSWORD, "new_password": "another bench passphrase"}
        return {
            "requests": [
                _request(
                    "POST", "/api/v1/user/me/password", token=(await fixtures.identity()).access_token, json_body=body
                )
                for _ in range(count)
            ]
        }
    if name in {"reset_password", "verify_email"}:  # a well-formed link token that was never issued: 400
        path = "/api/v1/reset-password" if name == "reset_password" else "/api/v1/verify-email"
        body = {"token": "A" * 43, "new_password": "another bench passphrase"}
        return {"requests": [_request("POST", path, json_body=body)] * count}
    if name == "cron_cleanup":
        return {"requests": [_request("GET", "/api/v1/cron/cleanup", token=CRON_SECRET)] * count}
    if name == "admin_users":
        admin = await fixtures.identity(role="admin")
        return {"requests": [_request("GET", "/api/v1/admin/users?limit=20", token=admin.access_token)] * count}
    if name == "mfa":  # starting an enrolment (the password is checked), which may start again until confirmed
        who = await fixtures.identity()
        start = _request("POST", "/api/v1/user/me/mfa/totp", token=who.access_token, json_body={"password": PASSWORD})
        return {"requests": [start] * count}
    if name == "login_mfa":  # one mfa_token, and a recovery code of its own for each request
        mfa_token, codes = await fixtures.mfa_challenge()
        if count > len(codes):
            raise RuntimeError(f"{count} second-factor logins need more than the {len(codes)} recovery codes")
        return {
            "requests": [
                _request("POST", "/api/v1/login/mfa", json_body={"mfa_token": mfa_token, "code": code})
                for code in codes[:count]
            ]
        }
    who = await fixtures.identity()
    if name == "me":
        return {"requests": [_request("GET", "/api/v1/user/me", token=who.access_token)] * count}
    route = _route_of(name)
    if route is None:
        return {"requests": [_request("GET", "/")] * count}
    method, path = route
    body: dict[str, Any] | None = {} if method in {"POST", "PUT", "PATCH"} else None
    return {"requests": [_request(method, path, token=who.access_token, json_body=body)] * count}


# --- cold start ------------------------------------------------------------------------


def worker(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(WORKER), *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench worker {args[:2]} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def measure_cold_starts(plan: Plan, figures: Figures, fixtures: Fixtures) -> None:
    names = function_names()
    baselines = {"fastapi": "fastapi", "local": "api._local", "libraries": DATABASE_FUNCTION_LIBRARIES}
    init: dict[str, list[float]] = {key: [] for key in [*baselines, *names]}
    wall: dict[str, list[float]] = {key: [] for key in [*baselines, *names]}
    overhead: dict[str, list[float]] = {name: [] for name in names}
    statuses: dict[str, set[int]] = {name: set() for name in names}
    # The libraries' bytecode was written when they were installed; ours is written here, since the
    # warm-up imports below write none where PYTHONDONTWRITEBYTECODE is set, and every measured
    # import would then compile our source again (about 20 ms of each function's init).
    for package in ("api", "lib"):
        compileall.compile_dir(ROOT / package, quiet=1)
    if plan.runs > 1:  # bytecode written, caches warm: every measured run starts alike
        for module in [*baselines.values(), *(f"api.{name}" for name in names)]:
            worker("init", module)
    for run in range(plan.runs):
        log(f"cold start: run {run + 1} of {plan.runs}")
        order = [*baselines, *names]
        random.shuffle(order)  # interleaved, so that a noisy moment is shared rather than pinned on one
        for key in order:
            if key in baselines:
                result = worker("init", baselines[key])
            else:
                spec = await scenario(key, 1 + plan.warm_requests, fixtures)
                result = worker("function", key, json.dumps(spec))
            init[key].append(result["init_ms"])
            wall[key].append(result["init_wall_ms"])
            if key in baselines:
                continue
            first, *warm = result["times_ms"]
            overhead[key].append(first - statistics.median(warm))
            statuses[key].update(result["statuses"])
    figures.init_wall_ms = {key: statistics.median(values) for key, values in wall.items()}
    figures.fastapi_import_ms = statistics.median(init["fastapi"])
    figures.local_app_init_ms = statistics.median(init["local"])
    figures.libraries_init_ms = statistics.median(init["libraries"])
    for name in names:
        init_ms = statistics.median(init[name])
        figures.cold_start[name] = {
            "init_ms": init_ms,
            "init_ratio_to_fastapi_import": init_ms / figures.fastapi_import_ms,
            "init_ratio_to_local_app": init_ms / figures.local_app_init_ms,
            "first_request_overhead_ms": statistics.median(overhead[name]),
            # What a cold start costs in all (init, and what the first request pays once) over the floor.
            "cold_total_ratio_to_floor": (init_ms + statistics.median(overhead[name])) / figures.libraries_init_ms,
        }
        figures.statuses[name] = ",".join(str(s) for s in sorted(statuses[name]))


# --- token path --------------------------------------------------------------------------


def paired_us(ours: Callable[[], object], raw: Callable[[], object], iterations: int) -> tuple[float, float]:
    """Median microseconds of `ours` and of `raw`, measured alternately so that both meet the same noise."""
    for _ in range(max(5, iterations // 10)):
        ours()
        raw()
    ours_samples, raw_samples = [], []
    for _ in range(iterations):
        start = time.perf_counter()
        ours()
        middle = time.perf_counter()
        raw()
        end = time.perf_counter()
        ours_samples.append(middle - start)
        raw_samples.append(end - middle)
    return statistics.median(ours_samples) * 1e6, statistics.median(raw_samples) * 1e6


def measure_tokens(plan: Plan, figures: Figures) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from lib.security.keys import get_key_set
    from lib.security.tokens import create_access_token, decode_token

    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    token = create_access_token(user_id=user_id, role="user", session_id=session_id).token
    private_key = get_key_set().signing_key
    public_key = private_key.public_key()
    signing_input, _, signature_b64 = token.rpartition(".")
    message = signing_input.encode("ascii")
    signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    sign, raw_sign = paired_us(
        lambda: create_access_token(user_id=user_id, role="user", session_id=session_id),
        lambda: private_key.sign(message, pkcs1, sha256),
        plan.token_iterations,
    )
    verify, raw_verify = paired_us(
        lambda: decode_token(token, "access"),
        lambda: public_key.verify(signature, message, pkcs1, sha256),
        plan.token_iterations * 4,
    )
    first = statistics.median(worker("first-sign")["first_sign_ms"] for _ in range(max(plan.runs, 1)))
    figures.token = {
        "sign_us": sign,
        "raw_sign_us": raw_sign,
        "sign_ratio": sign / raw_sign,
        "verify_us": verify,
        "raw_verify_us": raw_verify,
        "verify_ratio": verify / raw_verify,
        "first_sign_ms": first,
    }


# --- login and /user/me -----------------------------------------------------------------


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


async def measure_login(plan: Plan, figures: Figures, fixtures: Fixtures) -> None:
    from argon2 import PasswordHasher

    import api.login
    from lib.config import get_settings
    from scripts.bench_worker import call_asgi

    settings = get_settings()
    params = (
        settings.PASSWORD_ARGON2_TIME_COST,
        settings.PASSWORD_ARGON2_MEMORY_COST,
        settings.PASSWORD_ARGON2_PARALLELISM,
    )
    figures.argon2 = f"Argon2id t={params[0]} m={params[1]} KiB p={params[2]}"
    hasher = PasswordHasher(time_cost=params[0], memory_cost=params[1], parallelism=params[2])
    stored = hasher.hash(PASSWORD)
    who = await fixtures.identity()
    request = _request("POST", "/api/v1/login", form={"username": who.email, "password": PASSWORD})
    body = request["body"].encode()
    logins: list[float] = []
    verifies: list[float] = []
    own: list[float] = []
    with timed_password_checks() as checks:
        await call_asgi(api.login.app, "POST", "/api/v1/login", request["headers"], body)
        for _ in range(plan.logins):
            checks.clear()
            status, answer, elapsed = await call_asgi(api.login.app, "POST", "/api/v1/login", request["headers"], body)
            if status != 200:
                raise RuntimeError(f"login answered {status}: {answer[:200]!r}")
            logins.append(elapsed)
            own.append(elapsed - sum(checks))
            start = time.perf_counter()
            hasher.verify(stored, PASSWORD)
            verifies.append((time.perf_counter() - start) * 1000)
    p50, argon2_ms = statistics.median(logins), statistics.median(verifies)
    figures.login = {
        "p50_ms": p50,
        "argon2_verify_ms": argon2_ms,
        "overhead_ms": p50 - argon2_ms,
        "own_p50_ms": statistics.median(own),
    }
    figures.login.update(await login_round_trips(fixtures))


async def login_round_trips(fixtures: Fixtures) -> dict[str, Any]:
    """Round trips to PgBouncer per login, connects included, counted by a TCP proxy in front of
    it (scripts/pg_roundtrips.py): a process's first login (the engine's first connect included)
    and the next one."""
    who = await fixtures.identity()
    request = _request("POST", "/api/v1/login", form={"username": who.email, "password": PASSWORD})
    return counted_round_trips("login", [request] * 2)


async def refresh_round_trips(fixtures: Fixtures) -> dict[str, Any]:
    """The same for a refresh (two sessions' tokens, so that each request is a rotation)."""
    requests = [
        _request("POST", "/api/v1/refresh", json_body={"refresh_token": (await fixtures.identity()).refresh_token})
        for _ in range(2)
    ]
    return counted_round_trips("refresh", requests)


def counted_round_trips(name: str, requests: list[dict[str, Any]]) -> dict[str, Any]:
    """Two requests through the function `name` in a fresh process: the second one's round trips,
    connects and messages, and the first one's round trips (the engine's first connect included)."""
    result = worker("round-trips", name, json.dumps({"requests": requests}))
    if result["statuses"] != [200, 200]:
        raise RuntimeError(f"{name} through the counting proxy answered {result['statuses']}")
    first, steady = result["requests"]
    return {
        "round_trips": steady["round_trips"],
        "connects": steady["connections"],
        "messages": steady["messages"],
        "first_round_trips": first["round_trips"],
    }


async def measure_refresh(plan: Plan, figures: Figures, fixtures: Fixtures) -> None:
    """Refresh-token rotation through the refresh function beside its floor: one asyncpg connect,
    one conditional UPDATE of a refresh token, close, through PgBouncer, alternated."""
    import asyncpg

    import api.refresh
    from lib.security.tokens import decode_token
    from scripts.bench_worker import call_asgi

    who = await fixtures.identity()
    dsn, connect_args = asyncpg_dsn()
    token_id = uuid.UUID(str(decode_token(who.refresh_token, "refresh")["jti"]))
    presented = who.refresh_token

    async def rotate() -> float:
        nonlocal presented
        body = json.dumps({"refresh_token": presented}).encode()
        headers = [["content-type", "application/json"]]
        status, answer, elapsed = await call_asgi(api.refresh.app, "POST", "/api/v1/refresh", headers, body)
        if status != 200:
            raise RuntimeError(f"refresh answered {status}: {answer[:200]!r}")
        presented = json.loads(answer)["refresh_token"]
        return elapsed

    async def floor() -> float:
        start = time.perf_counter()
        connection = await asyncpg.connect(dsn, **connect_args)
        try:
            await connection.fetchrow(
                "UPDATE refresh_tokens SET used_at = now() WHERE id = $1 AND used_at IS NULL RETURNING id", token_id
            )
        finally:
            await connection.close()
        return (time.perf_counter() - start) * 1000

    await rotate()
    await floor()
    mine: list[float] = []
    floors: list[float] = []
    for _ in range(plan.me_requests // 2):  # alternated, as for /user/me
        mine.append(await rotate())
        floors.append(await floor())
    p50, floor_ms = statistics.median(mine), statistics.median(floors)
    figures.refresh = {"p50_ms": p50, "floor_ms": floor_ms, "ratio": p50 / floor_ms}
    figures.refresh.update(await refresh_round_trips(fixtures))


def asyncpg_dsn() -> tuple[str, dict[str, Any]]:
    """The DSN and connect arguments of a raw asyncpg connection through transaction-mode PgBouncer."""
    from lib.config import get_settings
    from lib.db import normalize_database_url

    url, connect_args = normalize_database_url(get_settings().DATABASE_URL)
    return url.replace("postgresql+asyncpg://", "postgresql://"), {"statement_cache_size": 0, **connect_args}


async def measure_me(plan: Plan, figures: Figures, fixtures: Fixtures) -> None:
    import asyncpg

    import api.me
    from scripts.bench_worker import call_asgi

    who = await fixtures.identity()
    dsn, connect_args = asyncpg_dsn()
    headers = [["authorization", f"Bearer {who.access_token}"]]

    async def me() -> float:
        status, answer, elapsed = await call_asgi(api.me.app, "GET", "/api/v1/user/me", headers, b"")
        if status != 200:
            raise RuntimeError(f"/user/me answered {status}: {answer[:200]!r}")
        return elapsed

    async def floor() -> float:
        start = time.perf_counter()
        connection = await asyncpg.connect(dsn, **connect_args)
        try:
            row = await connection.fetchrow("SELECT * FROM users WHERE id = $1", who.user_id)
        finally:
            await connection.close()
        assert row is not None
        return (time.perf_counter() - start) * 1000

    await me()
    await floor()
    mine: list[float] = []
    floors: list[float] = []
    for _ in range(plan.me_requests):  # alternated, so that both see the same moments of the machine
        mine.append(await me())
        floors.append(await floor())
    p50, floor_ms = statistics.median(mine), statistics.median(floors)
    figures.me = {"p50_ms": p50, "floor_ms": floor_ms, "ratio": p50 / floor_ms}


# --- load -----------------------------------------------------------------------------------

# "grant" is the token endpoint's refresh grant; a revoked session is followed by a sign-up,
# which gives the client a new account and session.
PATTERN = ["me", "refresh", "me", "jwks", "login", "me", "grant", "jwks", "me", "revoke", "sign-up"]
# Every MFA_EVERY-th client turns two-factor login (TOTP) on after its sign-up ("enrol" with the
# password, "confirm" with a first code) and keeps that account: each of its logins is the
# password ("challenge": 403 mfa_required with an mfa_token) then a code ("mfa", /login/mfa),
# and a revoked session is followed by such a login rather than by a sign-up.
MFA_EVERY = 4
MFA_START = ["sign-up", "enrol", "confirm"]
MFA_PATTERN = [step for kind in PATTERN for step in (["challenge", "mfa"] if kind in ("login", "sign-up") else [kind])]
EXPECTED = {
    "sign-up": 201,
    "login": 200,
    "me": 200,
    "refresh": 200,
    "grant": 200,
    "revoke": 200,
    "jwks": 200,
    "enrol": 200,
    "confirm": 200,
    "challenge": 403,
    "mfa": 200,
}
ISSUES_TOKENS = {"sign-up", "login", "refresh", "grant", "mfa"}


def client_steps(count: int, *, mfa: bool) -> list[str]:
    """The kinds of a client's `count` requests, in order."""
    start, cycle = (MFA_START, MFA_PATTERN) if mfa else (["sign-up"], PATTERN)
    return (start + cycle * (count // len(cycle) + 1))[:count]


class Authenticator:
    """A load client's authenticator: a code the server accepts for each second factor it sends.

    The server (`lib.mfa.totp.matching_step`) accepts the code of a step within one step of its
    own and later than the last one it accepted, so a code is never accepted twice. The next code
    is that of the current step, or of the next one when the current step's is spent: both stay
    acceptable if the server's clock has moved on to the next step by the time it checks. When
    both are spent (a third code within one 30-second step), a recovery code stands in; when those
    are spent too, the client waits for the next step, as a person would (`wait_seconds`)."""

    def __init__(self, secret: str) -> None:
        import pyotp

        self.totp = pyotp.TOTP(secret)
        self.last_step: int | None = None
        self.recovery_codes: list[str] = []

    def _next_step(self) -> tuple[int, int]:
        now = self.totp.timecode(time.time())
        return now, now if self.last_step is None or self.last_step < now else self.last_step + 1

    def wait_seconds(self) -> float:
        """How long until a code is at hand: 0 unless every acceptable step and recovery code is spent."""
        now, step = self._next_step()
        if step <= now + 1 or self.recovery_codes:
            return 0.0
        return (now + 1) * self.totp.interval - time.time() + 0.1

    def code(self) -> str:
        now, step = self._next_step()
        if step <= now + 1:
            self.last_step = step
            return self.totp.generate_otp(step)
        if not self.recovery_codes:
            raise RuntimeError("the load client has used every TOTP step and recovery code it had")
        return self.recovery_codes.pop()


@dataclass
class LoadClient:
    """One client of the load: its account, its tokens and, for an MFA client, its authenticator."""

    index: int
    login_name: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    authenticator: Authenticator | None = None
    mfa_token: str = ""
    mfa_code: str = ""
    mfa_logins: int = 0
    recovery_code_logins: int = 0

    @property
    def forwarded(self) -> dict[str, str]:
        # Each client from an address of its own (RFC 2544's benchmarking range), as real clients
        # are: one address for all would meet the per-address sign-up limit, not the load.
        return {"X-Forwarded-For": f"198.18.{self.index // 256}.{self.index % 256}"}

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['a']}"}

    def _authenticator(self) -> Authenticator:
        if self.authenticator is None:
            raise RuntimeError("no enrolment: the client's enrol step failed")
        return self.authenticator

    async def send(self, client: httpx.AsyncClient, kind: str) -> httpx.Response:
        """The request of this kind, with what the client holds; its response."""
        if kind == "sign-up":
            tag = uuid.uuid4().hex[:12]
            self.login_name = f"load_{tag}"
            payload = {"email": f"load-{tag}@example.com", "username": self.login_name, "password": PASSWORD}
            return await client.post("/api/v1/sign-up", json=payload, headers=self.forwarded)
        if kind in ("login", "challenge"):
            credentials = {"username": self.login_name, "password": PASSWORD}
            return await client.post("/api/v1/login", data=credentials, headers=self.forwarded)
        if kind == "mfa":
            self.mfa_code = self._authenticator().code()
            body = {"mfa_token": self.mfa_token, "code": self.mfa_code}
            return await client.post("/api/v1/login/mfa", json=body, headers=self.forwarded)
        if kind == "enrol":
            path, body = "/api/v1/user/me/mfa/totp", {"password": PASSWORD}
            return await client.post(path, json=body, headers={**self.bearer, **self.forwarded})
        if kind == "confirm":
            body = {"code": self._authenticator().code()}
            return await client.post("/api/v1/user/me/mfa/totp/confirm", json=body, headers=self.bearer)
        if kind == "me":
            return await client.get("/api/v1/user/me", headers=self.bearer)
        if kind == "refresh":
            return await client.post("/api/v1/refresh", json={"refresh_token": self.tokens["r"]})
        if kind == "grant":
            form = {"grant_type": "refresh_token", "refresh_token": self.tokens["r"]}
            return await client.post("/api/v1/login", data=form)
        if kind == "revoke":
            return await client.post("/api/v1/revoke", data={"token": self.tokens["r"]})
        return await client.get("/.well-known/jwks.json")

    def take(self, kind: str, response: httpx.Response) -> bool:
        """Whether the answer is the expected one; keeps what it hands the client."""
        if response.status_code != EXPECTED[kind]:
            return False
        if kind in {"me", "jwks", "revoke"}:
            return True
        body = response.json()
        if kind in ISSUES_TOKENS:
            self.tokens = {"a": body["access_token"], "r": body["refresh_token"]}
            if kind == "mfa":
                self.mfa_logins += 1
                self.recovery_code_logins += not self.mfa_code.isdigit()
        elif kind == "challenge":
            if body["code"] != "mfa_required":
                return False
            self.mfa_token = body["mfa_token"]
        elif kind == "enrol":
            self.authenticator = Authenticator(body["secret"])
        elif kind == "confirm":
            self._authenticator().recovery_codes = list(body["recovery_codes"])
        return True


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_for_server(base_url: str, process: subprocess.Popen[bytes]) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=base_url) as client:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError("the local server exited during start-up")
            try:
                if (await client.get("/.well-known/jwks.json")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the local server did not start")


async def run_load(plan: Plan, base_url: str) -> tuple[list[float], int, float, list[LoadClient]]:
    import httpx

    latencies: list[float] = []
    errors = 0
    share, extra = divmod(plan.load_requests, plan.concurrency)

    async def client_run(state: LoadClient, client: httpx.AsyncClient) -> None:
        nonlocal errors
        count = share + (1 if state.index < extra else 0)
        for kind in client_steps(count, mfa=state.index % MFA_EVERY == 0):
            wait = state.authenticator.wait_seconds() if kind == "mfa" and state.authenticator else 0.0
            if wait:  # not part of the request, and seen: it stretches the load's duration
                log(f"load: client {state.index} waits {wait:.1f} s for a TOTP step (its other codes are spent)")
                await asyncio.sleep(wait)
            start = time.perf_counter()
            try:
                response = await state.send(client, kind)
                ok, outcome = state.take(kind, response), str(response.status_code)
            except (httpx.HTTPError, KeyError, TypeError, ValueError, RuntimeError) as error:
                ok, outcome = False, type(error).__name__
            latencies.append((time.perf_counter() - start) * 1000)
            if not ok:
                errors += 1
                log(f"load: client {state.index}: {kind} answered {outcome}, expected {EXPECTED[kind]}")

    clients = [LoadClient(index) for index in range(plan.concurrency)]
    limits = httpx.Limits(max_connections=plan.concurrency, max_keepalive_connections=plan.concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as client:
        start = time.perf_counter()
        await asyncio.gather(*(client_run(state, client) for state in clients))
        elapsed = time.perf_counter() - start
    return latencies, errors, elapsed, clients


async def measure_load(plan: Plan, figures: Figures) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "api._local:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    # The server's own output (request log lines, console emails) goes to a file, not over the table.
    server_log = open(ROOT / ".bench-server.log", "wb")
    environment = {**os.environ, "TRUSTED_IP_HEADER": "X-Forwarded-For"}
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=server_log, stderr=subprocess.STDOUT)
    try:
        base_url = f"http://127.0.0.1:{port}"
        await wait_for_server(base_url, process)
        latencies, errors, elapsed, clients = await run_load(plan, base_url)
    finally:
        process.terminate()
        process.wait(timeout=30)
        server_log.close()
    figures.load = {
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "rps": len(latencies) / elapsed,
        "mfa_logins": sum(state.mfa_logins for state in clients),
        "mfa_recovery_code_logins": sum(state.recovery_code_logins for state in clients),
    }


# --- report ----------------------------------------------------------------------------------


def as_json(figures: Figures) -> dict[str, Any]:
    return {
        "cold_start": figures.cold_start,
        "fastapi_import_ms": figures.fastapi_import_ms,
        "local_app_init_ms": figures.local_app_init_ms,
        "library_floor_ms": figures.libraries_init_ms,
        "token": figures.token,
        "login": figures.login,
        "me": figures.me,
        "refresh": figures.refresh,
        "load": figures.load,
    }


def table(figures: Figures, plan: Plan) -> str:
    lines = [
        f"Cold start, median of {plan.runs} fresh processes. init: CPU time of the import (wall-clock beside it);",
        "first request: its extra time over the same request once warm.",
        "x floor: init + first-request overhead over the floor (the database libraries' import).",
        f"{'function':<26}{'init ms':>9}{'wall ms':>9}{'x fastapi':>11}{'x local app':>13}{'1st req +ms':>13}"
        f"{'x floor':>9}  status",
    ]
    for name, row in figures.cold_start.items():
        lines.append(
            f"{name:<26}{row['init_ms']:>9.1f}{figures.init_wall_ms[name]:>9.1f}"
            f"{row['init_ratio_to_fastapi_import']:>11.2f}{row['init_ratio_to_local_app']:>13.2f}"
            f"{row['first_request_overhead_ms']:>13.1f}{row['cold_total_ratio_to_floor']:>9.2f}"
            f"  {figures.statuses[name]}"
        )
    lines += [
        f"{'baseline: import fastapi':<26}{figures.fastapi_import_ms:>9.1f}{figures.init_wall_ms['fastapi']:>9.1f}",
        f"{'baseline: local app':<26}{figures.local_app_init_ms:>9.1f}{figures.init_wall_ms['local']:>9.1f}",
        f"{'floor: database libraries':<26}{figures.libraries_init_ms:>9.1f}{figures.init_wall_ms['libraries']:>9.1f}"
        f"{figures.libraries_init_ms / figures.fastapi_import_ms:>11.2f}",
        "",
        f"{'measure':<34}{'ours':>12}{'baseline':>12}{'ratio / diff':>14}",
    ]
    token, login, me, load, refresh = figures.token, figures.login, figures.me, figures.load, figures.refresh
    jwks = figures.cold_start.get("jwks")
    if jwks is not None:
        lines.append(
            f"{'JWKS init (ms) vs import fastapi':<34}{jwks['init_ms']:>12.1f}{figures.fastapi_import_ms:>12.1f}"
            f"{jwks['init_ratio_to_fastapi_import']:>13.2f}x"
        )
    lines += [
        f"{'sign python-jose (us) vs raw RSA':<34}{token['sign_us']:>12.1f}{token['raw_sign_us']:>12.1f}"
        f"{token['sign_ratio']:>13.2f}x",
        f"{'verify python-jose (us) vs raw RSA':<34}{token['verify_us']:>12.1f}{token['raw_verify_us']:>12.1f}"
        f"{token['verify_ratio']:>13.2f}x",
        f"{'first token, fresh process (ms)':<34}{token['first_sign_ms']:>12.2f}",
        f"{'login p50 (ms) vs Argon2 verify':<34}{login['p50_ms']:>12.1f}{login['argon2_verify_ms']:>12.1f}"
        f"{login['overhead_ms']:>+13.1f} ms",
        f"{'login p50 without its hash check (ms)':<34}{login['own_p50_ms']:>12.1f}",
        f"{'login round trips (connects)':<34}{login['round_trips']:>12}{login['connects']:>12}"
        f"   first login {login['first_round_trips']}",
        f"{'/user/me p50 (ms) vs asyncpg floor':<34}{me['p50_ms']:>12.2f}{me['floor_ms']:>12.2f}{me['ratio']:>13.2f}x",
        f"{'refresh p50 (ms) vs connect+UPDATE':<34}{refresh['p50_ms']:>12.2f}{refresh['floor_ms']:>12.2f}"
        f"{refresh['ratio']:>13.2f}x",
        f"{'refresh round trips (connects)':<34}{refresh['round_trips']:>12}{refresh['connects']:>12}"
        f"   first refresh {refresh['first_round_trips']}",
        "",
        f"Load: {load['requests']} mixed requests at concurrency {plan.concurrency}: errors {load['errors']}, "
        f"p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms, {load['rps']:.1f} requests/s",
        f"      of which {load['mfa_logins']} second-factor logins by the clients with TOTP on (one in {MFA_EVERY}),"
        f" {load['mfa_recovery_code_logins']} of them with a recovery code",
        f"Password hashing: {figures.argon2} (production defaults)",
    ]
    return "\n".join(lines)


async def run(plan: Plan) -> Figures:
    import logging

    logging.getLogger("auth").setLevel(logging.WARNING)  # the per-request lines would bury the table
    figures = Figures()
    fixtures = Fixtures()
    log("cold starts ...")
    await measure_cold_starts(plan, figures, fixtures)
    log("token path ...")
    measure_tokens(plan, figures)
    log("login ...")
    await measure_login(plan, figures, fixtures)
    log("/user/me ...")
    await measure_me(plan, figures, fixtures)
    log("refresh ...")
    await measure_refresh(plan, figures, fixtures)
    log("load ...")
    await measure_load(plan, figures)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON to PATH")
    parser.add_argument("--quick", action="store_true", help="a very short run (checks that everything runs)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    prepare_environment()
    migrate()
    figures = asyncio.run(run(plan))
    print(table(figures, plan))
    if args.json:
        args.json.write_text(json.dumps(as_json(figures), indent=2) + "\n")


if __name__ == "__main__":
    main()
