from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.fixtures.maintenance import EXPECTED_DELETED, NO_EMAILS, assert_only_live_rows_remain, seed_stale_rows
from tests.fixtures.users import UserFactory

PATH = "/api/v1/cron/cleanup"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-secret"},
        {"Authorization": "Bearer test-cron-secret-but-longer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic test-cron-secret"},
        {"Authorization": "test-cron-secret"},
    ],
)
async def test_cleanup_without_the_secret_is_unauthorized(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.get(PATH, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_cleanup_is_closed_when_no_secret_is_configured(
    client: httpx.AsyncClient, settings_env: Callable[..., None]
) -> None:
    settings_env(CRON_SECRET="")
    assert (await client.get(PATH)).status_code == 401
    assert (await client.get(PATH, headers={"Authorization": "Bearer "})).status_code == 401
    assert (await client.get(PATH, headers={"Authorization": "Bearer None"})).status_code == 401


async def test_cleanup_deletes_stale_rows_and_keeps_live_ones(client: httpx.AsyncClient, users: UserFactory) -> None:
    rows = await seed_stale_rows(client, users)
    response = await client.get(PATH, headers={"Authorization": "Bearer test-cron-secret"})
    assert response.status_code == 200
    assert response.json() == {"deleted": EXPECTED_DELETED, "emails": NO_EMAILS}
    assert response.headers["cache-control"] == "no-store"
    await assert_only_live_rows_remain(client, rows)


async def test_cleanup_twice_deletes_nothing_more(client: httpx.AsyncClient, users: UserFactory) -> None:
    await seed_stale_rows(client, users)
    auth = {"Authorization": "Bearer test-cron-secret"}
    assert (await client.get(PATH, headers=auth)).json() == {"deleted": EXPECTED_DELETED, "emails": NO_EMAILS}
    assert (await client.get(PATH, headers=auth)).json() == {
        "deleted": dict.fromkeys(EXPECTED_DELETED, 0),
        "emails": NO_EMAILS,
    }
