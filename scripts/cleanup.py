"""`scripts/cleanup`: the scheduled clean-up, run once against DATABASE_URL; prints the counts as JSON."""

from __future__ import annotations

import asyncio
import json
import sys

from lib.maintenance import run_cleanup


def main() -> None:
    sys.stdout.write(json.dumps(asyncio.run(run_cleanup()).model_dump()) + "\n")


if __name__ == "__main__":
    main()
