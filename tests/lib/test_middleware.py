"""A transaction that loses a race on PostgreSQL is run again, and answers 503 (never 500)
when it keeps losing."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from sqlalchemy import select, text, update
from sqlmodel import col

from lib.app import create_app
from lib.db import get_engine
from lib.deps import Session
from lib.models import User
from tests.fixtures.app import make_client
from tests.fixtures.database import is_postgres
from tests.fixtures.users import UserFactory

pytestmark = pytest.mark.skipif(
    not is_postgres(), reason="SQLite runs writers one at a time: no transaction there can lose a race"
)


def racing_app(attempts: list[str], both_read: asyncio.Barrier) -> httpx.AsyncClient:
    """Each request reads a user's name in a REPEATABLE READ transaction, waits until the other
    request has read it too, then writes it: PostgreSQL lets one write through and aborts the
    other with a serialization failure."""
    router = APIRouter()

    @router.post("/race/{user_id}/{name}")
    async def race(session: Session, user_id: uuid.UUID, name: str) -> dict[str, str]:
        attempts.append(name)
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        await session.execute(select(col(User.first_name)).where(col(User.id) == user_id))
        if len(attempts) <= 2:
            await both_read.wait()
        await session.execute(update(User).where(col(User.id) == user_id).values(first_name=name))
        return {"written": name}

    return make_client(create_app(router))


async def user_id_of(email: str) -> uuid.UUID:
    async with get_engine().connect() as connection:
        return (await connection.execute(select(col(User.id)).where(col(User.email) == email))).scalar_one()


async def test_a_serialization_failure_is_run_again(users: UserFactory) -> None:
    user_id = await user_id_of((await users.sign_up()).email)
    attempts: list[str] = []
    async with racing_app(attempts, asyncio.Barrier(2)) as client:
        first, second = await asyncio.gather(
            client.post(f"/race/{user_id}/first"), client.post(f"/race/{user_id}/second")
        )
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    assert len(attempts) == 3  # the loser ran again, once
    async with get_engine().connect() as connection:
        stored = (await connection.execute(select(col(User.first_name)).where(col(User.id) == user_id))).scalar_one()
    assert stored == attempts[-1]  # the retried request wrote last


class LosingRace(Exception):
    sqlstate = "40P01"


async def test_a_request_that_keeps_losing_answers_503_with_retry_after() -> None:
    attempts = 0
    router = APIRouter()

    @router.post("/always-deadlocked")
    async def always_deadlocked() -> None:
        nonlocal attempts
        attempts += 1
        raise sa_exc.DBAPIError("UPDATE ...", None, LosingRace())

    async with make_client(create_app(router)) as client:
        response = await client.post("/always-deadlocked", json={"kept": "for every attempt"})
    assert response.status_code == 503
    assert response.json()["code"] == "conflict_retry_exhausted"
    assert response.headers["retry-after"] == "1"
    assert attempts == 4


class Rename(BaseModel):
    name: str


async def test_a_retried_request_reads_its_body_again(users: UserFactory) -> None:
    """The loser of the race reads its JSON body on each attempt: the body is replayed per
    attempt, not once for the whole request."""
    user_id = await user_id_of((await users.sign_up()).email)
    attempts: list[str] = []
    both_read = asyncio.Barrier(2)
    router = APIRouter()

    @router.post("/rename/{user_id}")
    async def rename(session: Session, user_id: uuid.UUID, body: Rename) -> dict[str, str]:
        attempts.append(body.name)
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        await session.execute(select(col(User.first_name)).where(col(User.id) == user_id))
        if len(attempts) <= 2:
            await both_read.wait()
        await session.execute(update(User).where(col(User.id) == user_id).values(first_name=body.name))
        return {"written": body.name}

    async with make_client(create_app(router)) as client:
        first, second = await asyncio.wait_for(
            asyncio.gather(
                client.post(f"/rename/{user_id}", json={"name": "first"}),
                client.post(f"/rename/{user_id}", json={"name": "second"}),
            ),
            30,
        )
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    assert len(attempts) == 3, attempts
    assert sorted(attempts[:2]) == ["first", "second"]
    assert attempts[2] in {"first", "second"}  # the loser ran again with its own body
    assert {first.json()["written"], second.json()["written"]} == {"first", "second"}
