"""The mixed load: every kind of request from `concurrency` clients against a local server."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from scripts.benchmark.load_clients import EXPECTED, MFA_EVERY, LoadClient, client_steps
from scripts.benchmark.plan import ROOT, Plan, log, percentile
from tests.fixtures.servers import uvicorn_servers


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


async def measure_load(plan: Plan) -> dict[str, Any]:
    # Each client sends from an address of its own (X-Forwarded-For, trusted here); the server's own
    # output (request log lines, console emails) goes to a file, not over the table.
    with uvicorn_servers(1, log_path=ROOT / ".bench-server.log", TRUSTED_IP_HEADER="X-Forwarded-For") as (base_url,):
        latencies, errors, elapsed, clients = await run_load(plan, base_url)
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "rps": len(latencies) / elapsed,
        "mfa_logins": sum(state.mfa_logins for state in clients),
        "mfa_recovery_code_logins": sum(state.recovery_code_logins for state in clients),
    }
