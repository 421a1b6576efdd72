"""`scripts/create-admin`, run as a subprocess against the database the suite runs on."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from tests.fixtures.roles import user_row
from tests.fixtures.users import PASSWORD, UserFactory, bearer

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "admin passphrase 42"


def create_admin(*args: str, password: str | None = ADMIN_PASSWORD, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "ENV_FILE": "", **env}
    environment.pop("ADMIN_PASSWORD", None)
    if password is not None:
        environment["ADMIN_PASSWORD"] = password
    return subprocess.run(
        [str(ROOT / "scripts" / "create-admin"), *args],
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


async def test_create_admin_creates_a_verified_admin_who_can_manage_users(client: httpx.AsyncClient) -> None:
    result = create_admin("--email", "Root@Example.com", "--username", "root")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "created admin root <root@example.com>"

    row = await user_row("root@example.com")
    assert row is not None
    assert (row["role"], row["is_active"], row["is_verified"]) == ("admin", True, True)
    assert row["hashed_password"].startswith("$argon2id$")
    login = await client.post("/api/v1/login", data={"username": "root", "password": ADMIN_PASSWORD})
    assert login.status_code == 200
    listing = await client.get("/api/v1/admin/users", headers=bearer(login.json()["access_token"]))
    assert listing.status_code == 200
    assert listing.json()["total"] == 1


async def test_create_admin_promotes_the_existing_account_and_keeps_its_password(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    member = await users.sign_up(email="dana@example.com", username="dana")
    assert (await client.delete("/api/v1/user/me", headers=member.headers)).status_code == 204

    result = create_admin("--email", "DANA@example.com", "--username", "dana")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "promoted dana@example.com to admin; password unchanged"

    row = await user_row("dana@example.com")
    assert row is not None
    assert (row["role"], row["is_active"], row["is_verified"]) == ("admin", True, True)
    assert (await users.login("dana", ADMIN_PASSWORD)).status_code == 401
    login = await users.login("dana", PASSWORD)
    assert login.status_code == 200
    assert (await client.get("/api/v1/admin/users", headers=bearer(login.json()["access_token"]))).status_code == 200


async def test_create_admin_refuses_a_password_that_breaks_the_policy() -> None:
    result = create_admin("--email", "weak@example.com", "--username", "weak", password="short")
    assert result.returncode == 1
    assert result.stderr == "error: password: Password must be at least 8 characters\n"
    assert await user_row("weak@example.com") is None


async def test_create_admin_without_password_or_terminal_fails_clearly() -> None:
    result = create_admin("--email", "nopw@example.com", "--username", "nopw", password=None)
    assert result.returncode == 1
    assert result.stderr == "error: ADMIN_PASSWORD is not set and there is no terminal to ask for a password\n"
    assert await user_row("nopw@example.com") is None


async def test_create_admin_refuses_a_taken_username(users: UserFactory) -> None:
    await users.sign_up(email="first@example.com", username="taken")
    result = create_admin("--email", "second@example.com", "--username", "TAKEN")
    assert result.returncode == 1
    assert result.stderr == "error: This username is taken\n"
    assert await user_row("second@example.com") is None


async def test_create_admin_rejects_bad_arguments() -> None:
    bad_email = create_admin("--email", "not-an-email", "--username", "someone")
    assert bad_email.returncode == 1
    assert bad_email.stderr.startswith("error: email: value is not a valid email address")
    assert bad_email.stderr.count("\n") == 1
    bad_username = create_admin("--email", "someone@example.com", "--username", "no spaces")
    assert bad_username.returncode == 1
    assert bad_username.stderr.startswith("error: username: ")
    missing = create_admin("--email", "someone@example.com")
    assert missing.returncode == 2
    assert "--username" in missing.stderr


def test_create_admin_on_a_database_without_the_schema_says_so(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/empty.db"
    result = create_admin("--email", "root@example.com", "--username", "root", DATABASE_URL=url)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: the database at {url} has no users table; apply the migrations first (scripts/migrate)\n"
    )
