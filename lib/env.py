"""Environment look-ups for code that must not pay for pydantic-settings at import.

The JWKS function reads its few settings here; everything else uses
`lib.config.get_settings()`. Both read the process environment first, then `.env`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


def local_url() -> str:
    """Where `scripts/dev` serves (`HOST`, `PORT`): the local default of the issuer and FRONTEND_URL."""
    host = os.environ.get("HOST") or "127.0.0.1"
    if host in {"0.0.0.0", "::"}:  # listening everywhere; clients reach it on loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{os.environ.get('PORT') or '8000'}"


DEFAULT_JWT_ISSUER = local_url()


def env_file() -> str | None:
    """The dotenv file both readers use: `ENV_FILE` if set (empty for none), else `.env`."""
    return os.environ.get("ENV_FILE", ".env") or None


@lru_cache
def _dotenv() -> dict[str, str]:
    """The `.env` file read with python-dotenv's rules (comments, quotes, `export`), as
    pydantic-settings reads it; imported only when there is a file (never on a deployment)."""
    name = env_file()
    path = Path(name) if name else None
    if path is None or not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {key: value for key, value in dotenv_values(path).items() if value is not None}


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
