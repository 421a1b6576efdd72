"""How much the benchmark measures (a full or a quick run), and what every module shares."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "scripts" / "benchmark" / "worker.py"
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


# Lambda-only queue consumers (api/_local.py's QUEUE_CONSUMERS, which this process does not
# import: it loads no app): no HTTP app to start.
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


def worker(*args: str, python: str = sys.executable, env: dict[str, str] | None = None) -> dict[str, Any]:
    """One measurement in a fresh interpreter (`worker.py`); its JSON answer."""
    done = subprocess.run([python, str(WORKER), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench worker {args[:2]} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
