"""`scripts/outbox`: the emails still to send and those given up, and sending them again.

    scripts/outbox [list] [--json]      pending and given-up emails, oldest first
    scripts/outbox retry ID...          send these again now, with a fresh count of attempts
    scripts/outbox retry --given-up     the same for every given-up email

An email to retry gets its attempts back and is sent at once; if it fails again it waits
for the scheduled retries like any other. A link email whose link would have expired is
skipped, not sent late: the user can ask for a new link.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlmodel import col

from lib.db import get_engine
from lib.email.sending import send_rows
from lib.models import EmailOutbox, EmailState, utcnow

LISTED = (EmailState.PENDING.value, EmailState.GIVEN_UP.value)
COLUMNS = ("id", "state", "kind", "address", "attempts", "next_attempt_at", "created_at", "last_error")


async def listed() -> list[dict[str, Any]]:
    async with get_engine().connect() as connection:
        rows = await connection.execute(
            select(*(getattr(EmailOutbox, name) for name in COLUMNS))
            .where(col(EmailOutbox.state).in_(LISTED))
            .order_by(col(EmailOutbox.created_at))
        )
        return [dict(row._mapping) for row in rows]


async def retry(ids: list[uuid.UUID] | None) -> dict[str, int]:
    """Make the emails (`ids`, or every given-up one) due now with their attempts back, then send them."""
    statement = update(EmailOutbox).where(col(EmailOutbox.state).in_(LISTED))
    statement = statement.where(
        col(EmailOutbox.id).in_(ids) if ids is not None else col(EmailOutbox.state) == EmailState.GIVEN_UP.value
    )
    async with get_engine().begin() as connection:
        chosen = await connection.execute(
            statement.values(state=EmailState.PENDING.value, attempts=0, next_attempt_at=utcnow()).returning(
                col(EmailOutbox.id)
            )
        )
        chosen_ids = list(chosen.scalars())
    counts = await send_rows(chosen_ids)
    return {"retried": len(chosen_ids), "sent": counts.sent, "failed": counts.failed, "given_up": counts.given_up}


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no pending or given-up email\n"
    cells = [[str(row[name] if row[name] is not None else "") for name in COLUMNS] for row in rows]
    widths = [max(len(name), *(len(line[i]) for line in cells)) for i, name in enumerate(COLUMNS)]
    lines = ["  ".join(name.ljust(width) for name, width in zip(COLUMNS, widths, strict=True))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/outbox", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command")
    listing = commands.add_parser("list", help="pending and given-up emails (the default)")
    listing.add_argument("--json", action="store_true", help="one JSON array instead of a table")
    retrying = commands.add_parser("retry", help="send emails again now")
    retrying.add_argument("ids", nargs="*", type=uuid.UUID, metavar="ID")
    retrying.add_argument("--given-up", action="store_true", help="every given-up email")
    args = parser.parse_args(argv)

    if args.command == "retry":
        if bool(args.ids) == bool(args.given_up):
            parser.error("retry takes email ids or --given-up")
        result = asyncio.run(retry(args.ids or None))
        sys.stdout.write(json.dumps(result) + "\n")
        return 0
    rows = asyncio.run(listed())
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(rows, default=str) + "\n")
    else:
        sys.stdout.write(_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
