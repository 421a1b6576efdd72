"""The mailer (AWS Lambda only): sends the emails whose outbox ids the other functions put on the
email queue (SQS, `EMAIL_QUEUE_URL`) after their commits, so that no answer waits for SMTP or SES.

It has no HTTP route: SQS invokes `handler` with a batch of messages, and a message it could not
handle is reported back (`ReportBatchItemFailures`) for SQS to deliver again, then to the
dead-letter queue. The rows stay pending meanwhile, and the scheduled clean-up sends them too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from lib.email.sending import send_queued
from lib.log import configure_logging

configure_logging()


def handler(event: dict[str, Any], _context: object = None) -> dict[str, Any]:
    """Lambda entry point for the SQS event source; anything but an SQS batch is refused."""
    records = event.get("Records")
    if not isinstance(records, list) or any(record.get("eventSource") != "aws:sqs" for record in records):
        raise ValueError("the mailer accepts only SQS events")
    return asyncio.run(send_queued(event))
