"""The email queue on AWS: a request hands the ids of its outbox rows to SQS after its commit,
and the `mailer` function (`api/mailer.py`) sends them. boto3 is imported on first use only."""

from __future__ import annotations

import asyncio
import json
import uuid
from functools import lru_cache
from typing import Any

from lib.config import get_settings


def message_body(ids: list[uuid.UUID]) -> str:
    return json.dumps({"ids": [str(row_id) for row_id in ids]})


def read_message_body(body: str) -> list[uuid.UUID]:
    """The row ids a queue message carries; ValueError when it is not one of ours."""
    parsed = json.loads(body)
    if not isinstance(parsed, dict) or not isinstance(parsed.get("ids"), list):
        raise ValueError("not an email queue message")
    return [uuid.UUID(str(row_id)) for row_id in parsed["ids"]]


async def publish(ids: list[uuid.UUID]) -> None:
    """Send one message with `ids` (possibly none: see `publish_in_any_case`) to `EMAIL_QUEUE_URL`."""
    settings = get_settings()
    queue_url = settings.EMAIL_QUEUE_URL
    if not queue_url:
        raise RuntimeError("EMAIL_QUEUE_URL is not set")
    body = message_body(ids)

    def send() -> None:
        _sqs_client(settings.AWS_REGION, settings.SMTP_TIMEOUT).send_message(QueueUrl=queue_url, MessageBody=body)

    await asyncio.to_thread(send)


@lru_cache
def _sqs_client(region: str, timeout: float) -> Any:
    """One client per process, on its own boto3 session (the default one is not thread-safe to build from)."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 3})
    return boto3.session.Session().client("sqs", region_name=region, config=config)
