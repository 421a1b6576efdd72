"""Every function's cold start (init, and what its first request adds) beside its floors, with
our bytecode and without it."""

from __future__ import annotations

import compileall
import json
import os
import random
import shutil
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.benchmark.fixtures import Fixtures
from scripts.benchmark.plan import ROOT, Plan, function_names, log, worker
from scripts.benchmark.scenarios import scenario

# What any function with a database session imports, before a line of ours: the floor of its init.
DATABASE_FUNCTION_LIBRARIES = (
    "fastapi,mangum,pydantic_settings,sqlmodel,sqlalchemy.ext.asyncio,sqlalchemy.dialects.postgresql.asyncpg,asyncpg"
)
# The same with the JOSE library the card names (python-jose, with the `cryptography` modules its
# backend imports), which every function that checks or issues a token imports too.
CARD_LIBRARIES = f"{DATABASE_FUNCTION_LIBRARIES},jose.jwt,jose.jwk"
BASELINES = {
    "fastapi": "fastapi",
    "local": "api._local",
    "libraries": DATABASE_FUNCTION_LIBRARIES,
    "card": CARD_LIBRARIES,
}
NO_BYTECODE = "no-bytecode:"  # the key prefix of an init measured without our bytecode


@dataclass
class ColdStarts:
    rows: dict[str, dict[str, float]] = field(default_factory=dict)
    init_wall_ms: dict[str, float] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    fastapi_import_ms: float = 0.0
    local_app_init_ms: float = 0.0
    library_floor_ms: float = 0.0
    card_floor_ms: float = 0.0


@contextmanager
def source_without_bytecode() -> Iterator[dict[str, str]]:
    """A copy of api/ and lib/ without __pycache__, and the environment in which the worker imports
    it and writes no bytecode: what every cold start compiles when the package ships none."""
    with tempfile.TemporaryDirectory(prefix="bench-source-") as copy:
        for package in ("api", "lib"):
            shutil.copytree(ROOT / package, Path(copy) / package, ignore=shutil.ignore_patterns("__pycache__"))
        yield {**os.environ, "BENCH_SOURCE_ROOT": copy, "PYTHONDONTWRITEBYTECODE": "1"}


def measure_one(key: str, spec: dict[str, Any] | None, without_bytecode: dict[str, str]) -> dict[str, Any]:
    if key in BASELINES:
        return worker("init", BASELINES[key])
    if key.startswith(NO_BYTECODE):
        return worker("init", f"api.{key.removeprefix(NO_BYTECODE)}", env=without_bytecode)
    return worker("function", f"api.{key}", json.dumps(spec))


async def measure_cold_starts(plan: Plan, fixtures: Fixtures) -> ColdStarts:
    names = function_names()
    keys = [*BASELINES, *names, *(NO_BYTECODE + name for name in names)]
    init: dict[str, list[float]] = {key: [] for key in keys}
    wall: dict[str, list[float]] = {key: [] for key in keys}
    overhead: dict[str, list[float]] = {name: [] for name in names}
    statuses: dict[str, set[int]] = {name: set() for name in names}
    # The libraries' bytecode was written when they were installed; ours is written here, since the
    # warm-up imports below write none where PYTHONDONTWRITEBYTECODE is set, and every measured
    # import would then compile our source again (about 20 ms of each function's init).
    for package in ("api", "lib"):
        compileall.compile_dir(ROOT / package, quiet=1)
    with source_without_bytecode() as without_bytecode:
        if plan.runs > 1:  # bytecode written, caches warm: every measured run starts alike
            for module in [*BASELINES.values(), *(f"api.{name}" for name in names)]:
                worker("init", module)
        for run in range(plan.runs):
            log(f"cold start: run {run + 1} of {plan.runs}")
            order = list(keys)
            random.shuffle(order)  # interleaved, so that a noisy moment is shared rather than pinned on one
            for key in order:
                spec = await scenario(key, 1 + plan.warm_requests, fixtures) if key in names else None
                result = measure_one(key, spec, without_bytecode)
                init[key].append(result["init_ms"])
                wall[key].append(result["init_wall_ms"])
                if key in names:
                    first, *warm = result["times_ms"]
                    overhead[key].append(first - statistics.median(warm))
                    statuses[key].update(result["statuses"])
    return summary(names, init, wall, overhead, statuses)


def summary(
    names: list[str],
    init: dict[str, list[float]],
    wall: dict[str, list[float]],
    overhead: dict[str, list[float]],
    statuses: dict[str, set[int]],
) -> ColdStarts:
    found = ColdStarts(
        init_wall_ms={key: statistics.median(values) for key, values in wall.items()},
        fastapi_import_ms=statistics.median(init["fastapi"]),
        local_app_init_ms=statistics.median(init["local"]),
        library_floor_ms=statistics.median(init["libraries"]),
        card_floor_ms=statistics.median(init["card"]),
    )
    for name in names:
        init_ms = statistics.median(init[name])
        # What a cold start costs in all: init, and what the first request pays once.
        cold_total = init_ms + statistics.median(overhead[name])
        without = statistics.median(init[NO_BYTECODE + name])
        found.rows[name] = {
            "init_ms": init_ms,
            "init_ratio_to_fastapi_import": init_ms / found.fastapi_import_ms,
            "init_ratio_to_local_app": init_ms / found.local_app_init_ms,
            "first_request_overhead_ms": statistics.median(overhead[name]),
            "cold_total_ratio_to_floor": cold_total / found.library_floor_ms,
            "cold_total_ratio_to_card_floor": cold_total / found.card_floor_ms,
            "init_ms_without_bytecode": without,
            "bytecode_saves_ms": without - init_ms,
        }
        found.statuses[name] = ",".join(str(s) for s in sorted(statuses[name]))
    return found
