"""The figures of a run: the JSON written by `--json`, and the table printed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scripts.benchmark.cold_start import ColdStarts
from scripts.benchmark.load_clients import MFA_EVERY
from scripts.benchmark.plan import Plan


@dataclass
class Figures:
    cold: ColdStarts
    token: dict[str, float]
    login: dict[str, Any]
    me: dict[str, float]
    refresh: dict[str, Any]
    load: dict[str, Any]
    peer: dict[str, dict[str, Any]] = field(default_factory=dict)  # peer, peer_ours, peer_ratio
    argon2: str = ""
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)  # sign_up, forgot_password


def as_json(figures: Figures) -> dict[str, Any]:
    return {
        "cold_start": figures.cold.rows,
        "fastapi_import_ms": figures.cold.fastapi_import_ms,
        "local_app_init_ms": figures.cold.local_app_init_ms,
        "library_floor_ms": figures.cold.library_floor_ms,
        "card_floor_ms": figures.cold.card_floor_ms,
        "token": figures.token,
        "login": figures.login,
        "me": figures.me,
        "refresh": figures.refresh,
        **figures.connections,
        "load": figures.load,
        **figures.peer,
    }


def cold_start_lines(cold: ColdStarts, plan: Plan) -> list[str]:
    lines = [
        f"Cold start, median of {plan.runs} fresh processes. init: CPU time of the import (wall-clock beside it);",
        "first request: its extra time over the same request once warm.",
        "x floor: init + first-request overhead over the floor (the database libraries' import);",
        "x card: the same over the card's floor (those libraries and python-jose with its cryptography modules).",
        "no pyc: init without our bytecode (what each cold start compiles when a package ships none).",
        f"{'function':<26}{'init ms':>9}{'wall ms':>9}{'x fastapi':>11}{'x local app':>13}{'1st req +ms':>13}"
        f"{'x floor':>9}{'x card':>8}{'no pyc':>8}  status",
    ]
    for name, row in cold.rows.items():
        lines.append(
            f"{name:<26}{row['init_ms']:>9.1f}{cold.init_wall_ms[name]:>9.1f}"
            f"{row['init_ratio_to_fastapi_import']:>11.2f}{row['init_ratio_to_local_app']:>13.2f}"
            f"{row['first_request_overhead_ms']:>13.1f}{row['cold_total_ratio_to_floor']:>9.2f}"
            f"{row['cold_total_ratio_to_card_floor']:>8.2f}{row['init_ms_without_bytecode']:>8.1f}"
            f"  {cold.statuses[name]}"
        )
    return [
        *lines,
        f"{'baseline: import fastapi':<26}{cold.fastapi_import_ms:>9.1f}{cold.init_wall_ms['fastapi']:>9.1f}",
        f"{'baseline: local app':<26}{cold.local_app_init_ms:>9.1f}{cold.init_wall_ms['local']:>9.1f}",
        f"{'floor: database libraries':<26}{cold.library_floor_ms:>9.1f}{cold.init_wall_ms['libraries']:>9.1f}"
        f"{cold.library_floor_ms / cold.fastapi_import_ms:>11.2f}",
        f"{'card floor: + python-jose':<26}{cold.card_floor_ms:>9.1f}{cold.init_wall_ms['card']:>9.1f}"
        f"{cold.card_floor_ms / cold.fastapi_import_ms:>11.2f}",
    ]


def measure_lines(figures: Figures) -> list[str]:
    token, login, me, refresh = figures.token, figures.login, figures.me, figures.refresh
    lines = [f"{'measure':<34}{'ours':>12}{'baseline':>12}{'ratio / diff':>14}"]
    jwks = figures.cold.rows.get("jwks")
    if jwks is not None:
        lines.append(
            f"{'JWKS init (ms) vs import fastapi':<34}{jwks['init_ms']:>12.1f}{figures.cold.fastapi_import_ms:>12.1f}"
            f"{jwks['init_ratio_to_fastapi_import']:>13.2f}x"
        )
    return [
        *lines,
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
        *connection_lines(figures.connections),
    ]


def connection_lines(connections: dict[str, dict[str, Any]]) -> list[str]:
    """Round trips and connects of the requests that send an email, the sending included."""
    return [
        f"{name.replace('_', '-') + ' round trips (connects)':<34}{counts['round_trips']:>12}{counts['connects']:>12}"
        f"   first {counts['first_round_trips']}"
        for name, counts in connections.items()
    ]


def peer_lines(figures: Figures, plan: Plan) -> list[str]:
    if not figures.peer:
        return []
    peer, ours, ratio = figures.peer["peer"], figures.peer["peer_ours"], figures.peer["peer_ratio"]
    lines = [
        f"Beside {peer['name']} {peer['version']} (same run, alternated; ratio below 1.0: we are ahead)",
        f"{'measure':<34}{'ours':>12}{'peer':>12}{'ratio':>14}",
    ]
    labels = {
        "cold_start_ms": "login function cold start (ms)",
        "login_p50_ms": "login p50 (ms)",
        "me_p50_ms": "/user/me p50 (ms)",
        "load_rps": f"login + me, {plan.load_requests} at {plan.concurrency} (req/s)",
    }
    for key, label in labels.items():
        lines.append(f"{label:<34}{ours[key]:>12.1f}{peer[key]:>12.1f}{ratio[key]:>13.2f}x")
    return lines


def table(figures: Figures, plan: Plan) -> str:
    load = figures.load
    lines = [
        *cold_start_lines(figures.cold, plan),
        "",
        *measure_lines(figures),
        "",
        f"Load: {load['requests']} mixed requests at concurrency {plan.concurrency}: errors {load['errors']}, "
        f"p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms, {load['rps']:.1f} requests/s",
        f"      of which {load['mfa_logins']} second-factor logins by the clients with TOTP on (one in {MFA_EVERY}),"
        f" {load['mfa_recovery_code_logins']} of them with a recovery code",
        "",
        *peer_lines(figures, plan),
        f"Password hashing: {figures.argon2} (production defaults)",
    ]
    return "\n".join(lines)
