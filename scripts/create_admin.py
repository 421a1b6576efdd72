"""`scripts/create-admin --email E --username U`: create an admin, or promote the account with that email.

The password comes from `ADMIN_PASSWORD` or, at a terminal, a prompt; it is used only
when the account is created (a promoted account keeps its password). Exit status:
0 done, 1 failed (one line on stderr saying why), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from lib.accounts.schemas import UserCreate, Username
from lib.config import get_settings
from lib.config_error import ConfigError
from lib.db import get_engine, normalize_database_url
from lib.db_faults import is_database_unavailable
from lib.errors import AuthError
from lib.users.bootstrap import create_admin, promote_to_admin
from lib.validation import EmailAddress


class CommandError(Exception):
    """A failure to report as one line."""


def read_password() -> str:
    password = os.environ.get("ADMIN_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        raise CommandError("ADMIN_PASSWORD is not set and there is no terminal to ask for a password")
    password = getpass.getpass("Password for the new admin: ")
    if password != getpass.getpass("Repeat the password: "):
        raise CommandError("the passwords do not match")
    return password


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    return f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"


def _validated(field: str, kind: Any, value: str) -> str:
    try:
        return str(TypeAdapter(kind).validate_python(value))
    except ValidationError as exc:
        raise CommandError(f"{field}: {exc.errors(include_url=False)[0]['msg']}") from None


async def run(email: str, username: str, password_source: Callable[[], str]) -> str:
    # Checked before a password is asked for; normalised as sign-up stores it.
    email = _validated("email", EmailAddress, email)
    username = _validated("username", Username, username)
    async with AsyncSession(get_engine(), expire_on_commit=False) as session, session.begin():
        user = await promote_to_admin(session, email=email)
    if user is not None:
        note = "" if user.username.lower() == username.lower() else f" (its username stays {user.username!r})"
        return f"promoted {user.email} to admin; password unchanged{note}"

    password = password_source()  # asked only now, with no transaction open
    try:
        data = UserCreate(email=email, username=username, password=password)
    except ValidationError as exc:
        raise CommandError(_first_error(exc)) from None
    async with AsyncSession(get_engine(), expire_on_commit=False) as session, session.begin():
        user = await create_admin(session, data=data)
    return f"created admin {user.username} <{user.email}>"


def _database_label() -> str:
    url, _ = normalize_database_url(get_settings().DATABASE_URL)
    return make_url(url).render_as_string(hide_password=True)


def _describe_database_error(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).lower()
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return f"the database at {_database_label()} has no users table; apply the migrations first (scripts/migrate)"
    if is_database_unavailable(exc):
        return f"cannot reach the database at {_database_label()} ({type(exc).__name__})"
    orig = getattr(exc, "orig", None)
    return f"database error: {type(orig or exc).__name__}"


async def _main(email: str, username: str) -> str:
    try:
        return await run(email, username, read_password)
    finally:
        await get_engine().dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/create-admin", description=__doc__.splitlines()[0])
    parser.add_argument("--email", required=True)
    parser.add_argument("--username", required=True)
    args = parser.parse_args(argv)
    try:
        message = asyncio.run(_main(args.email, args.username))
    except (CommandError, ConfigError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except AuthError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 1
    except (sa_exc.DBAPIError, OSError, TimeoutError) as exc:
        sys.stderr.write(f"error: {_describe_database_error(exc)}\n")
        return 1
    except (KeyboardInterrupt, EOFError):
        sys.stderr.write("error: cancelled\n")
        return 1
    sys.stdout.write(message + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
