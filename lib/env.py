"""Environment look-ups for code that must not pay for pydantic-settings at import.

The JWKS function reads its few settings here; everything else uses
`lib.config.get_settings()`. Both read the process environment first, then `.env`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

DEFAULT_JWT_ISSUER = "http://127.0.0.1:8000"


def env_file() -> str | None:
    """The dotenv file both readers use: `ENV_FILE` if set (empty for none), else `.env`."""
    return os.environ.get("ENV_FILE", ".env") or None


@lru_cache
def _dotenv() -> dict[str, str]:
    name = env_file()
    values: dict[str, str] = {}
    path = Path(name) if name else None
    if path is None or not path.is_file():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None:
        value = _dotenv().get(name)
    return default if value is None or value == "" else value


def env_list(name: str) -> list[str]:
    value = (env(name) or "").strip()
    if value.startswith("["):
        import json

        return [str(item) for item in json.loads(value)]
    return [item.strip() for item in value.split(",") if item.strip()]
