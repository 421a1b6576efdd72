"""The peer's interpreter and settings, and processes that serve requests one at a time (ours or
the peer's), so that both sides are timed the same way: in-process, by the same worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import TracebackType
from typing import Any

from scripts.benchmark.environment import argon2_parameters
from scripts.benchmark.plan import ROOT, WORKER

PEER_NAME = "fastapi-users"
PEER_MODULE = "scripts.benchmark.peer.app"
PEER_VENV = ROOT / ".cache" / "bench-peer"  # made by scripts/bench from peer/requirements.txt


def peer_python() -> str:
    python = os.environ.get("BENCH_PEER_PYTHON") or str(PEER_VENV / "bin" / "python")
    if not os.path.exists(python):
        raise SystemExit(f"the peer's venv is missing ({python}): run scripts/bench, which makes it")
    return python


def peer_version() -> str:
    done = subprocess.run(
        [peer_python(), "-c", "import fastapi_users; print(fastapi_users.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def peer_environment() -> dict[str, str]:
    """Our environment (key, database), with the peer's database URL and our Argon2 parameters."""
    from lib.config import get_settings
    from lib.db import normalize_database_url

    url, connect_args = normalize_database_url(get_settings().DATABASE_URL)
    if "ssl" in connect_args:  # the same TLS choice as ours (none, on loopback)
        url += ("&" if "?" in url else "?") + f"ssl={connect_args['ssl']}"
    time_cost, memory_cost, parallelism = argon2_parameters()
    return {
        **os.environ,
        "PEER_DATABASE_URL": url,
        "PASSWORD_ARGON2_TIME_COST": str(time_cost),
        "PASSWORD_ARGON2_MEMORY_COST": str(memory_cost),
        "PASSWORD_ARGON2_PARALLELISM": str(parallelism),
    }


def create_peer_tables() -> None:
    """The peer's `user` table, as its documentation creates it (`create_db_and_tables`)."""
    command = "import asyncio; from scripts.benchmark.peer.app import create_db_and_tables as c; asyncio.run(c())"
    subprocess.run([peer_python(), "-c", command], cwd=ROOT, env=peer_environment(), check=True)


class Served:
    """A fresh process serving `module`'s app (worker.py's `serve` mode): one request at a time."""

    def __init__(self, module: str, *, peer: bool = False) -> None:
        python, env = (peer_python(), peer_environment()) if peer else (sys.executable, None)
        self.module = module
        self.process = subprocess.Popen(
            [python, str(WORKER), "serve", module],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def send(self, request: dict[str, Any], expected: int = 200) -> tuple[float, dict[str, Any]]:
        """Milliseconds the app took, and its JSON answer; the status must be `expected`."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the process serving {self.module} exited")
        answer = json.loads(line)
        if answer["status"] != expected:
            raise RuntimeError(f"{self.module} {request['path']} answered {answer['status']}: {answer['body'][:200]}")
        body: dict[str, Any] = json.loads(answer["body"]) if answer["body"] else {}
        return float(answer["ms"]), body

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
