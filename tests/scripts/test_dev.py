"""`PORT=... scripts/dev` from a fresh checkout: keys written to `.env`, served where it says."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.fernet import Fernet
from dotenv import dotenv_values

from tests.fixtures.mail import free_port

ROOT = Path(__file__).resolve().parents[2]
CHECKOUT = ("api", "lib", "migrations", "public", "scripts", "pyproject.toml", "requirements.txt")
CHECKOUT += ("requirements-dev.txt",)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The repository's files in a fresh directory (no `.env`), sharing the installed `.venv`."""
    copy = tmp_path / "checkout"
    copy.mkdir()
    for name in CHECKOUT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, copy / name)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


@pytest.fixture
def dev_server(checkout: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    environment = {"PATH": os.environ["PATH"], "HOME": str(checkout), "PORT": str(port)}
    log = (checkout / "dev.log").open("w+")
    process = subprocess.Popen(
        [str(checkout / "scripts" / "dev")],
        cwd=checkout,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert process.poll() is None, (checkout / "dev.log").read_text()
            assert time.monotonic() < deadline, (checkout / "dev.log").read_text()
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        yield base, checkout
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def test_dev_writes_its_keys_and_advertises_the_port_it_serves_on(dev_server: tuple[str, Path]) -> None:
    base, checkout = dev_server

    document = httpx.get(f"{base}/.well-known/openid-configuration", timeout=10).json()
    assert document["issuer"] == base
    assert document["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert httpx.get(document["jwks_uri"], timeout=10).json()["keys"]
    signed_up = httpx.post(
        f"{base}/api/v1/sign-up",
        json={"email": "dev@example.com", "username": "dev", "password": "correct horse battery"},
        timeout=30,
    )
    assert signed_up.status_code == 201, signed_up.text
    claims = jwt.decode(signed_up.json()["access_token"], options={"verify_signature": False})
    assert claims["iss"] == base

    written = dotenv_values(checkout / ".env")
    assert written["RSA_PRIVATE_KEY_CONTENT"]
    Fernet(written["MFA_ENCRYPTION_KEY"] or "")  # a valid Fernet key, or this raises
    assert f"serving on {base}" in (checkout / "dev.log").read_text()
