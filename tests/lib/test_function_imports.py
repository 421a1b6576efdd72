"""A function's init loads what its routes use: the tables it queries, not every table; the
profile function not the administration stack and its hasher. Each check runs in a fresh
interpreter, where `sys.modules` shows what an import of the function loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

_LOADED = """
import json, sys
from sqlmodel import SQLModel
module = __import__("api." + sys.argv[1], fromlist=["_"])
print(json.dumps({
    "modules": sorted(sys.modules),
    "tables": sorted(SQLModel.metadata.tables),
    "configured": all(mapper.configured for mapper in SQLModel._sa_registry.mappers),
}))
"""


def _loaded(name: str) -> dict[str, Any]:
    process = subprocess.run(
        [sys.executable, "-c", _LOADED, name], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert process.returncode == 0, process.stderr[-3000:]
    result: dict[str, Any] = json.loads(process.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("name", "events"),
    [("health", []), ("me", ["security_events"]), ("sessions", ["security_events"]), ("revoke", ["security_events"])],
)
def test_a_function_builds_only_the_tables_it_queries(name: str, events: list[str]) -> None:
    result = _loaded(name)
    assert result["tables"] == ["refresh_tokens", *events, "sessions", "users"]
    assert result["configured"]  # mappers configured at init, not on the first query


def test_the_profile_function_loads_no_administration_or_hasher() -> None:
    modules = set(_loaded("me")["modules"])
    assert not {"lib.users.admin", "lib.users.bootstrap", "lib.accounts.signup", "pwdlib", "argon2"} & modules


def test_metadata_holds_every_table() -> None:
    code = "from lib.models import metadata; print(','.join(sorted(metadata.tables)))"
    process = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert process.stdout.strip().split(",") == [
        "email_outbox",
        "email_tokens",
        "login_failures",
        "mfa_recovery_codes",
        "passkeys",
        "refresh_tokens",
        "security_events",
        "sessions",
        "users",
        "webauthn_challenges",
    ]


@pytest.mark.parametrize("name", ["login", "me"])
def test_a_function_loads_nothing_of_the_docs(name: str) -> None:
    """Only the local app serves /docs: a function's cold start neither reads Swagger UI's files
    nor imports the module that serves them."""
    modules = set(_loaded(name)["modules"])
    assert not {"lib.docs", "fastapi_offline"} & modules
