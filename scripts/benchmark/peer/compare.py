"""Us beside the peer (fastapi-users) in the same run, alternated: the cold start of the function
that serves login (init + first request), login p50, /user/me p50 and a login + me load."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

from scripts.benchmark.fixtures import Fixtures, request
from scripts.benchmark.peer.processes import (
    PEER_MODULE,
    PEER_NAME,
    Served,
    create_peer_tables,
    peer_environment,
    peer_python,
    peer_version,
)
from scripts.benchmark.plan import PASSWORD, ROOT, Plan, log, worker
from tests.fixtures.servers import uvicorn_servers


@dataclass(frozen=True)
class Side:
    """What one side's login and /user/me are: paths, the login form's user name, its servers."""

    name: str
    login_path: str
    me_path: str
    users: list[str]  # the login name of each user made for the comparison
    me_token: str  # an access token of another user, whom the logins measured do not log out

    def login(self, index: int = 0) -> dict[str, Any]:
        return request("POST", self.login_path, form={"username": self.users[index], "password": PASSWORD})

    def me(self, token: str) -> dict[str, Any]:
        return request("GET", self.me_path, token=token)


async def sides(plan: Plan, fixtures: Fixtures) -> tuple[Side, Side]:
    """Our side and the peer's, each with one user per load client (the first also serves the rest)."""
    ours = [(await fixtures.identity()).email for _ in range(plan.concurrency)]
    create_peer_tables()
    theirs = [f"peer-{uuid.uuid4().hex[:12]}@example.com" for _ in range(plan.concurrency + 1)]
    with Served(PEER_MODULE, peer=True) as peer:
        for email in theirs:  # signed up through its own register route
            peer.send(request("POST", "/auth/register", json_body={"email": email, "password": PASSWORD}), 201)
        login = request("POST", "/auth/jwt/login", form={"username": theirs.pop(), "password": PASSWORD})
        peer_token = peer.send(login)[1]["access_token"]
    return (
        Side("ours", "/api/v1/login", "/api/v1/user/me", ours, (await fixtures.identity()).access_token),
        Side("peer", "/auth/jwt/login", "/users/me", theirs, peer_token),
    )


def cold_start(side: Side, plan: Plan) -> float:
    """Init (wall clock) and the first login of a fresh process serving login, in milliseconds."""
    spec = json.dumps({"requests": [side.login()] * (1 + plan.warm_requests)})
    if side.name == "ours":
        result = worker("function", "api.login", spec)
    else:
        result = worker("function", PEER_MODULE, spec, python=peer_python(), env=peer_environment())
    if set(result["statuses"]) != {200}:
        raise RuntimeError(f"{side.name}'s login function answered {result['statuses']}")
    return float(result["init_wall_ms"] + result["times_ms"][0])


def cold_starts(both: tuple[Side, Side], plan: Plan) -> dict[str, float]:
    if plan.runs > 1:  # caches warm, as for our functions' cold starts
        for side in both:
            cold_start(side, plan)
    times: dict[str, list[float]] = {side.name: [] for side in both}
    for _ in range(plan.runs):
        for side in random.sample(both, 2):
            times[side.name].append(cold_start(side, plan))
    return {name: statistics.median(values) for name, values in times.items()}


def warm_p50s(both: tuple[Side, Side], plan: Plan) -> dict[str, dict[str, float]]:
    """Login and /user/me p50 of each side, one request of each side in turn (the first one taking turns)."""
    ours, peer = both
    found: dict[str, dict[str, float]] = {}
    with Served("api.login") as our_login, Served("api.me") as our_me, Served(PEER_MODULE, peer=True) as theirs:
        servers = {"ours": (our_login, our_me), "peer": (theirs, theirs)}
        samples: dict[tuple[str, str], list[float]] = {}
        for kind, count in (("login", plan.logins), ("me", plan.me_requests)):
            for side in both:  # one unmeasured request each, as the other measures do
                server = servers[side.name][int(kind == "me")]
                server.send(side.login() if kind == "login" else side.me(side.me_token))
            for turn in range(count):
                for side in (ours, peer) if turn % 2 == 0 else (peer, ours):
                    server = servers[side.name][int(kind == "me")]
                    sent = side.login() if kind == "login" else side.me(side.me_token)
                    samples.setdefault((side.name, kind), []).append(server.send(sent)[0])
    for (name, kind), values in samples.items():
        found.setdefault(name, {})[f"{kind}_p50_ms"] = statistics.median(values)
    return found


async def login_me_load(side: Side, base_url: str, requests: int, concurrency: int) -> tuple[int, float]:
    """`requests` requests from `concurrency` clients, each logging in then asking for its user in
    turn; (errors, seconds)."""
    import httpx

    share, extra = divmod(requests, concurrency)
    errors = 0

    async def client_run(index: int, client: httpx.AsyncClient) -> None:
        nonlocal errors
        token = ""
        for step in range(share + (1 if index < extra else 0)):
            try:
                if step % 2 == 0:
                    form = {"username": side.users[index], "password": PASSWORD}
                    response = await client.post(side.login_path, data=form)
                    token = response.json()["access_token"] if response.status_code == 200 else ""
                else:
                    response = await client.get(side.me_path, headers={"Authorization": f"Bearer {token}"})
                ok, outcome = response.status_code == 200, str(response.status_code)
            except (httpx.HTTPError, KeyError, ValueError) as error:
                ok, outcome = False, type(error).__name__
            if not ok:
                errors += 1
                log(f"peer load: {side.name} client {index}: step {step} answered {outcome}")

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as client:
        start = time.perf_counter()
        await asyncio.gather(*(client_run(index, client) for index in range(concurrency)))
        return errors, time.perf_counter() - start


async def loads(both: tuple[Side, Side], plan: Plan) -> dict[str, float]:
    """Requests per second of each side, in halves run ours, peer, peer, ours (so that a drift of the
    machine's load is shared)."""
    ours, peer = both
    logs = {"ours": ROOT / ".bench-server.log", "peer": ROOT / ".bench-peer-server.log"}
    elapsed = {"ours": 0.0, "peer": 0.0}
    with (
        uvicorn_servers(1, log_path=logs["ours"]) as (our_url,),
        uvicorn_servers(1, app=f"{PEER_MODULE}:app", python=peer_python(), log_path=logs["peer"], **peer_env()) as (
            peer_url,
        ),
    ):
        urls = {"ours": our_url, "peer": peer_url}
        for side in (ours, peer, peer, ours):
            errors, seconds = await login_me_load(side, urls[side.name], plan.load_requests // 2, plan.concurrency)
            if errors:
                raise RuntimeError(f"{side.name}'s login + me load had {errors} errors (see {logs[side.name]})")
            elapsed[side.name] += seconds
    return {name: 2 * (plan.load_requests // 2) / seconds for name, seconds in elapsed.items()}


def peer_env() -> dict[str, str]:
    """The peer's own settings (what peer_environment adds to ours), for its server."""
    return {name: peer_environment()[name] for name in ("PEER_DATABASE_URL", *ARGON2_SETTINGS)}


ARGON2_SETTINGS = ("PASSWORD_ARGON2_TIME_COST", "PASSWORD_ARGON2_MEMORY_COST", "PASSWORD_ARGON2_PARALLELISM")


async def measure_peer(plan: Plan, fixtures: Fixtures) -> dict[str, dict[str, Any]]:
    """`peer` (its figures), `peer_ours` (ours, measured alongside) and `peer_ratio` (ours over the
    peer's for times, the peer's over ours for throughput: below 1.0, we are ahead)."""
    both = await sides(plan, fixtures)
    log("peer: cold starts ...")
    cold = cold_starts(both, plan)
    log("peer: login and /user/me ...")
    warm = warm_p50s(both, plan)
    log("peer: login + me load ...")
    rps = await loads(both, plan)
    figures = {name: {"cold_start_ms": cold[name], **warm[name], "load_rps": rps[name]} for name in ("ours", "peer")}
    ratios = {key: figures["ours"][key] / figures["peer"][key] for key in figures["ours"]}
    ratios["load_rps"] = figures["peer"]["load_rps"] / figures["ours"]["load_rps"]
    return {
        "peer": {"name": PEER_NAME, "version": peer_version(), **figures["peer"]},
        "peer_ours": figures["ours"],
        "peer_ratio": ratios,
    }
