"""Reading security events: the user's own, every user's for admins, a page at a time."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import insert

from lib.db import get_engine
from lib.events.schemas import SecurityEvent
from lib.models import utcnow
from tests.fixtures.events import EVENTS, subject
from tests.fixtures.roles import RoleFactory
from tests.fixtures.users import UserFactory

MINE = "/api/v1/user/me/security-events"
ADMIN = "/api/v1/admin/security-events"


async def add_events(user_id: uuid.UUID | None, moments: list[datetime], type: str = "login_failed") -> list[uuid.UUID]:
    rows = [
        {"id": uuid.uuid4(), "occurred_at": moment, "type": type, "user_id": user_id, "details": {}}
        for moment in moments
    ]
    async with get_engine().begin() as connection:
        await connection.execute(insert(EVENTS), rows)
    return [row["id"] for row in rows]


async def read_all(client: httpx.AsyncClient, url: str, headers: dict[str, str], **params: str) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = await client.get(url, headers=headers, params={**params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        ids += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return ids


def test_the_schema_has_exactly_the_tables_columns() -> None:
    assert list(SecurityEvent.model_fields) == [column.name for column in EVENTS.columns]


async def test_a_user_reads_only_their_own_events_newest_first(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice, bob = await users.sign_up(), await users.sign_up()
    assert (await users.login(alice.username, "wrong password")).status_code == 401
    page = await client.get(MINE, headers=alice.headers)
    assert page.status_code == 200, page.text
    items = page.json()["items"]
    assert [item["type"] for item in items] == ["login_failed", "sign_up"]
    assert {uuid.UUID(item["user_id"]) for item in items} == {subject(alice.access_token)}
    assert page.json()["next_cursor"] is None
    assert [item["type"] for item in (await client.get(MINE, headers=bob.headers)).json()["items"]] == ["sign_up"]


async def test_only_admins_read_every_users_events(client: httpx.AsyncClient, accounts: RoleFactory) -> None:
    admin, moderator, member = [await accounts.create(role) for role in ("admin", "moderator", "user")]
    for caller in (moderator, member):
        refused = await client.get(ADMIN, headers=caller.headers)
        assert refused.status_code == 403, refused.text
    assert (await client.get(ADMIN)).status_code == 401
    assert (await client.get(MINE)).status_code == 401
    everyone = await client.get(ADMIN, headers=admin.headers, params={"limit": "100"})
    assert everyone.status_code == 200
    assert {item["user_id"] for item in everyone.json()["items"]} == {
        str(subject(caller.access_token)) for caller in (admin, moderator, member)
    }


async def test_admins_filter_by_user_type_and_time(client: httpx.AsyncClient, accounts: RoleFactory) -> None:
    admin = await accounts.create("admin")
    someone = uuid.uuid4()
    now = utcnow()
    old, middle, recent = await add_events(
        someone, [now - timedelta(days=3), now - timedelta(days=2), now - timedelta(days=1)]
    )
    await add_events(someone, [now - timedelta(days=2)], type="password_changed")
    params = {
        "user_id": str(someone),
        "type": "login_failed",
        "since": (now - timedelta(days=2)).isoformat(),
        "until": (now - timedelta(days=1)).isoformat(),
    }
    page = await client.get(ADMIN, headers=admin.headers, params=params)
    assert page.status_code == 200, page.text
    assert [item["id"] for item in page.json()["items"]] == [str(middle)]
    assert old != recent
    for refused in ({"since": "2026-01-01T00:00:00"}, {"until": "9999-12-31T23:59:59-14:00"}, {"type": "no_such"}):
        answer = await client.get(ADMIN, headers=admin.headers, params=refused)
        assert answer.status_code == 422, (refused, answer.text)


OVERFLOWING = base64.urlsafe_b64encode(f"9999-12-31T23:59:59-14:00|{uuid.uuid4()}".encode()).decode()


@pytest.mark.parametrize(
    "cursor", ["nonsense", "bm90IGEgY3Vyc29y", "MjAyNi0wMS0wMXxub3QtYS11dWlk", "!!", "x" * 150, OVERFLOWING]
)
async def test_a_cursor_that_was_not_given_out_is_400(
    client: httpx.AsyncClient, accounts: RoleFactory, cursor: str
) -> None:
    admin = await accounts.create("admin")
    for url in (MINE, ADMIN):
        answer = await client.get(url, headers=admin.headers, params={"cursor": cursor})
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "invalid_cursor"


@pytest.mark.parametrize("limit", ["0", "101", "many"])
async def test_the_limit_is_between_1_and_100(client: httpx.AsyncClient, users: UserFactory, limit: str) -> None:
    member = await users.sign_up()
    assert (await client.get(MINE, headers=member.headers, params={"limit": limit})).status_code == 422


async def test_paging_returns_every_event_once_while_new_ones_arrive(
    client: httpx.AsyncClient, accounts: RoleFactory
) -> None:
    admin = await accounts.create("admin")
    user_id = subject(admin.access_token)
    now = utcnow()
    # Ties on the timestamp too: the id breaks them.
    moments = [now - timedelta(minutes=minutes) for minutes in (50, 40, 40, 40, 30, 20, 20, 10, 5, 1)]
    await add_events(user_id, moments)
    for url in (MINE, ADMIN):
        existing = await read_all(client, url, admin.headers)
        assert len(existing) > 10
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
            page = await client.get(url, headers=admin.headers, params=params)
            assert page.status_code == 200, page.text
            seen += [item["id"] for item in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
            # Events arrive between pages, at this moment and at the moment of the page's last.
            last = page.json()["items"][-1]["occurred_at"]
            await add_events(user_id, [utcnow(), datetime.fromisoformat(last) + timedelta(microseconds=1)])
        # Every event that was there once, in order; the new ones are all above the cursor.
        assert seen == existing
