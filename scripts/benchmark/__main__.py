"""The performance benchmark: every figure beside the baseline it is judged against.

Run it through `scripts/bench`, which starts PostgreSQL behind PgBouncer (transaction
mode), sets DATABASE_URL and makes the peer's venv. Measures cold starts of every `api/*.py`
function, the token path, login, `/user/me`, refresh, a mixed load, and fastapi-users beside
us; prints a table; `--json PATH` writes the figures. Password hashing uses the production
defaults of the settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from pathlib import Path

from scripts.benchmark.cold_start import measure_cold_starts
from scripts.benchmark.environment import argon2_parameters, migrate, prepare_environment
from scripts.benchmark.fixtures import Fixtures
from scripts.benchmark.load import measure_load
from scripts.benchmark.peer.compare import measure_peer
from scripts.benchmark.plan import FULL, QUICK, ROOT, Plan, log
from scripts.benchmark.report import Figures, as_json, table
from scripts.benchmark.requests import measure_connections, measure_login, measure_me, measure_refresh
from scripts.benchmark.tokens import measure_tokens


async def run(plan: Plan) -> Figures:
    logging.getLogger("auth").setLevel(logging.WARNING)  # the per-request lines would bury the table
    fixtures = Fixtures()
    log("connects of the requests that send email ...")  # first: the cold starts use up forgot-password's limit
    connections = await measure_connections(fixtures)
    log("cold starts ...")
    cold = await measure_cold_starts(plan, fixtures)
    log("token path ...")
    token = measure_tokens(plan)
    log("login ...")
    login = await measure_login(plan, fixtures)
    log("/user/me ...")
    me = await measure_me(plan, fixtures)
    log("refresh ...")
    refresh = await measure_refresh(plan, fixtures)
    log("load ...")
    load = await measure_load(plan)
    log("beside the peer ...")
    peer = await measure_peer(plan, fixtures)
    time_cost, memory_cost, parallelism = argon2_parameters()
    argon2 = f"Argon2id t={time_cost} m={memory_cost} KiB p={parallelism}"
    return Figures(cold, token, login, me, refresh, load, peer, argon2, connections)


async def run_requests(plan: Plan) -> dict[str, object]:
    """`--only requests`: login, /user/me, refresh and the connects of the email-sending requests
    (a minute or two, for a before and after of a change to them)."""
    logging.getLogger("auth").setLevel(logging.WARNING)
    fixtures = Fixtures()
    connections = await measure_connections(fixtures)
    login = await measure_login(plan, fixtures)
    me = await measure_me(plan, fixtures)
    refresh = await measure_refresh(plan, fixtures)
    return {"login": login, "me": me, "refresh": refresh, **connections}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON to PATH")
    parser.add_argument("--quick", action="store_true", help="a very short run (checks that everything runs)")
    parser.add_argument(
        "--only",
        choices=["requests"],
        help="measure only login, /user/me, refresh and the connects of sign-up and forgot-password",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    os.chdir(ROOT)
    prepare_environment()
    migrate()
    if args.only == "requests":
        figures_json = asyncio.run(run_requests(plan))
        print(json.dumps(figures_json, indent=2))
        if args.json:
            args.json.write_text(json.dumps(figures_json, indent=2) + "\n")
        return
    figures = asyncio.run(run(plan))
    print(table(figures, plan))
    if args.json:
        args.json.write_text(json.dumps(as_json(figures), indent=2) + "\n")


if __name__ == "__main__":
    main()
