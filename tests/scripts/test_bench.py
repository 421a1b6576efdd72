"""`scripts/bench --json` writes every figure of its contract (a very short run; no timing is judged here)."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest

from api._local import function_names

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.database_independent  # the benchmark starts a PostgreSQL of its own

COLD_START_KEYS = {
    "init_ms",
    "init_ratio_to_fastapi_import",
    "init_ratio_to_local_app",
    "first_request_overhead_ms",
    "cold_total_ratio_to_floor",
    "cold_total_ratio_to_card_floor",
    "init_ms_without_bytecode",
    "bytecode_saves_ms",
}
PEER_FIGURES = {"cold_start_ms", "login_p50_ms", "me_p50_ms", "load_rps"}
SECTIONS = {
    "token": {"sign_us", "raw_sign_us", "sign_ratio", "verify_us", "raw_verify_us", "verify_ratio", "first_sign_ms"},
    "login": {
        "p50_ms",
        "argon2_verify_ms",
        "overhead_ms",
        "own_p50_ms",
        "round_trips",
        "connects",
        "messages",
        "first_round_trips",
    },
    "me": {"p50_ms", "floor_ms", "ratio"},
    "refresh": {"p50_ms", "floor_ms", "ratio", "round_trips", "connects", "messages", "first_round_trips"},
    "load": {"requests", "errors", "p50_ms", "p99_ms", "rps", "mfa_logins", "mfa_recovery_code_logins"},
    # The requests that send an email: their round trips and connects, the sending included.
    "sign_up": {"round_trips", "connects", "messages", "first_round_trips"},
    "forgot_password": {"round_trips", "connects", "messages", "first_round_trips"},
}
COUNTS = {
    "requests",
    "errors",
    "round_trips",
    "connects",
    "messages",
    "first_round_trips",
    "mfa_logins",
    "mfa_recovery_code_logins",
}


def is_figure(value: object) -> bool:
    return isinstance(value, float) and math.isfinite(value)


@pytest.mark.timeout(600)
def test_bench_json_has_every_figure_of_the_contract(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "bench"), "--quick", "--json", str(output)],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(output.read_text())

    assert set(figures) == {
        "cold_start",
        "fastapi_import_ms",
        "local_app_init_ms",
        "library_floor_ms",
        "card_floor_ms",
        "peer",
        "peer_ours",
        "peer_ratio",
        *SECTIONS,
    }
    assert is_figure(figures["fastapi_import_ms"])
    assert is_figure(figures["library_floor_ms"])
    assert is_figure(figures["card_floor_ms"])
    assert is_figure(figures["local_app_init_ms"])
    assert set(figures["cold_start"]) == set(function_names())
    for name, row in figures["cold_start"].items():
        assert set(row) == COLD_START_KEYS, name
        assert all(is_figure(value) for value in row.values()), (name, row)
    for section, keys in SECTIONS.items():
        assert set(figures[section]) == keys, section
        for key, value in figures[section].items():
            if key in COUNTS:
                assert isinstance(value, int), (section, key, value)
            else:
                assert is_figure(value), (section, key, value)
    assert figures["load"]["requests"] > 0
    assert figures["load"]["errors"] == 0  # every kind of request in the load answered as expected
    # The clients with TOTP on completed their logins' second step, each with a code not used before.
    assert figures["load"]["mfa_logins"] >= 2
    assert 0 <= figures["load"]["mfa_recovery_code_logins"] <= figures["load"]["mfa_logins"]
    # A login or a refresh connects once (startup and SCRAM are round trips of their own) and queries.
    assert 0 < figures["login"]["own_p50_ms"] < figures["login"]["p50_ms"]
    for name in ("login", "refresh", "sign_up", "forgot_password"):
        assert figures[name]["connects"] == 1
        assert figures[name]["round_trips"] > 3 * figures[name]["connects"]
        assert figures[name]["first_round_trips"] >= figures[name]["round_trips"]
    # The peer, measured in the same run: the installed fastapi-users, and a ratio for each figure.
    assert figures["peer"]["name"] == "fastapi-users"
    assert figures["peer"]["version"] == peer_version()
    assert set(figures["peer"]) == {"name", "version", *PEER_FIGURES}
    assert set(figures["peer_ours"]) == set(figures["peer_ratio"]) == PEER_FIGURES
    for key in PEER_FIGURES:
        assert all(is_figure(figures[part][key]) for part in ("peer", "peer_ours", "peer_ratio")), key
        assert figures["peer"][key] > 0
        assert figures["peer_ours"][key] > 0
    for key in ("cold_start_ms", "login_p50_ms", "me_p50_ms"):  # ours over the peer's for times
        assert figures["peer_ratio"][key] == pytest.approx(figures["peer_ours"][key] / figures["peer"][key])
    assert figures["peer_ratio"]["load_rps"] == pytest.approx(  # the peer's over ours for throughput
        figures["peer"]["load_rps"] / figures["peer_ours"]["load_rps"]
    )
    # The card's floor is the library floor and python-jose with its cryptography modules imported.
    for row in figures["cold_start"].values():
        card_ratio = row["cold_total_ratio_to_card_floor"] * figures["card_floor_ms"]
        assert card_ratio == pytest.approx(row["cold_total_ratio_to_floor"] * figures["library_floor_ms"])
        assert row["bytecode_saves_ms"] == pytest.approx(row["init_ms_without_bytecode"] - row["init_ms"])
    assert "function" in done.stdout  # the table was printed too
    assert "Beside fastapi-users" in done.stdout


def peer_version() -> str:
    """The fastapi-users version the peer's requirements pin (what scripts/bench installs)."""
    pins = (ROOT / "scripts" / "benchmark" / "peer" / "requirements.txt").read_text().splitlines()
    return next(line.split("==")[1] for line in pins if line.startswith("fastapi-users=="))
