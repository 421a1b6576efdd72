from __future__ import annotations

import asyncio
import json
import subprocess

import httpx
import pytest

from api.cron_cleanup import scheduled
from tests.fixtures.deployment import ROOT
from tests.fixtures.lambda_events import Request, http_api_v2, invoke, scheduled_event
from tests.fixtures.maintenance import EXPECTED_DELETED, NO_EMAILS, assert_only_live_rows_remain, seed_stale_rows
from tests.fixtures.users import UserFactory


async def test_the_lambda_schedule_cleans_up(client: httpx.AsyncClient, users: UserFactory) -> None:
    rows = await seed_stale_rows(client, users)
    result = await asyncio.to_thread(invoke, scheduled, scheduled_event())
    assert result == {"deleted": EXPECTED_DELETED, "emails": NO_EMAILS}
    await assert_only_live_rows_remain(client, rows)


@pytest.mark.parametrize(
    "event",
    [
        http_api_v2(Request("GET", "/api/v1/cron/cleanup")),
        {**scheduled_event(), "source": "aws.s3"},
        {"body": '{"source": "aws.events", "detail-type": "Scheduled Event"}'},
    ],
)
def test_the_schedule_handler_refuses_anything_but_a_scheduled_event(event: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="scheduled events"):
        invoke(scheduled, event)


async def test_the_cleanup_script_runs_the_same_service(client: httpx.AsyncClient, users: UserFactory) -> None:
    rows = await seed_stale_rows(client, users)
    process = await asyncio.to_thread(
        subprocess.run, [str(ROOT / "scripts" / "cleanup")], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert process.returncode == 0, process.stderr
    assert json.loads(process.stdout) == {"deleted": EXPECTED_DELETED, "emails": NO_EMAILS}
    assert list(json.loads(process.stdout)["deleted"]) == list(EXPECTED_DELETED)
    await assert_only_live_rows_remain(client, rows)
