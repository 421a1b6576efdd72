"""`.env` is read with python-dotenv's rules by both readers, and local defaults follow HOST and PORT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lib import wellknown
from lib.config import Settings, get_settings
from lib.env import env, env_file
from tests.fixtures.app import clear_caches

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A `.env` file both readers use, with nothing in the environment shadowing what it sets."""
    path = tmp_path / ".env"
    monkeypatch.setenv("ENV_FILE", str(path))
    for name in ("JWT_ISSUER", "FRONTEND_URL", "JWT_AUDIENCE", "APP_NAME", "CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    yield path
    monkeypatch.undo()
    clear_caches()


def test_a_comment_after_the_issuer_is_trimmed_in_both_readers(dotenv_file: Path) -> None:
    dotenv_file.write_text("JWT_ISSUER=https://auth.example.com # public URL\n")
    clear_caches()

    assert env("JWT_ISSUER") == "https://auth.example.com"
    assert get_settings().JWT_ISSUER == "https://auth.example.com"
    document = json.loads(wellknown.discovery_document())
    assert document["issuer"] == "https://auth.example.com"
    assert document["jwks_uri"] == "https://auth.example.com/.well-known/jwks.json"


def test_quotes_export_and_comments_read_alike_in_both_readers(dotenv_file: Path) -> None:
    dotenv_file.write_text(
        "# a comment line\n"
        "export JWT_AUDIENCE=exported-audience\n"
        'APP_NAME="Auth # not a comment"  # a comment\n'
        "FRONTEND_URL='https://app.example.com/#/'\n"
        "CORS_ORIGINS=https://a.example.com,https://b.example.com\n"
    )
    clear_caches()
    settings = Settings(_env_file=env_file())

    for name, expected in {
        "JWT_AUDIENCE": "exported-audience",
        "APP_NAME": "Auth # not a comment",
        "FRONTEND_URL": "https://app.example.com/#/",
    }.items():
        assert env(name) == expected
        assert getattr(settings, name) == expected
    assert settings.CORS_ORIGINS == ["https://a.example.com", "https://b.example.com"]


_LOCAL_DEFAULTS = """
import asyncio, json
import httpx
from lib.config import get_settings
from api._local import app

async def main():
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        document = (await client.get("/.well-known/openid-configuration")).json()
    settings = get_settings()
    print(json.dumps({"issuer": settings.JWT_ISSUER, "frontend": settings.FRONTEND_URL,
                      "advertised": document["issuer"], "jwks_uri": document["jwks_uri"]}))

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "8123"}, "http://127.0.0.1:8123"),
        ({"HOST": "localhost", "PORT": "9000"}, "http://localhost:9000"),
        ({"HOST": "0.0.0.0", "PORT": "8123"}, "http://127.0.0.1:8123"),
        ({"HOST": "::1", "PORT": "8123"}, "http://[::1]:8123"),
    ],
)
def test_the_local_issuer_and_frontend_url_follow_host_and_port(address: dict[str, str], expected: str) -> None:
    environment = {
        "PATH": os.environ["PATH"],
        "ENV_FILE": "",
        "RSA_PRIVATE_KEY_CONTENT": os.environ["RSA_PRIVATE_KEY_CONTENT"],
        **address,
    }
    process = subprocess.run(
        [sys.executable, "-c", _LOCAL_DEFAULTS], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert process.returncode == 0, process.stderr
    result = json.loads(process.stdout.strip().splitlines()[-1])
    assert result == {
        "issuer": expected,
        "frontend": expected,
        "advertised": expected,
        "jwks_uri": f"{expected}/.well-known/jwks.json",
    }
