"""Where messages go, chosen by `EMAIL_BACKEND`: the console, an SMTP server, or Amazon SES.

Each backend imports its client library only when it is used.
"""

from __future__ import annotations

import asyncio
import sys
from email.message import EmailMessage
from functools import lru_cache
from typing import Any

from lib.config import Settings, get_settings


async def deliver(message: EmailMessage) -> None:
    settings = get_settings()
    if settings.EMAIL_BACKEND == "smtp":
        await send_smtp(message, settings)
    elif settings.EMAIL_BACKEND == "ses":
        await send_ses(message, settings)
    else:
        send_console(message, settings)


def send_console(message: EmailMessage, settings: Settings) -> None:
    """Print the message (its plain-text part, links included) so local flows can be followed.

    Never in production: a reset link in a log file would let anyone who reads the logs
    take over the account.
    """
    if settings.ENVIRONMENT == "production":
        raise RuntimeError("EMAIL_BACKEND=console prints links and is for development; use smtp or ses")
    text = message.get_body(preferencelist=("plain",))
    body = text.get_content() if isinstance(text, EmailMessage) else ""
    rule = "-" * 72
    headers = f"To: {message['To']}\nFrom: {message['From']}\nSubject: {message['Subject']}"
    sys.stdout.write(f"{rule}\n{headers}\n\n{body.rstrip()}\n{rule}\n")
    sys.stdout.flush()


async def send_smtp(message: EmailMessage, settings: Settings) -> None:
    """Send through `SMTP_HOST`: implicit TLS with `SMTP_USE_TLS`, otherwise STARTTLS when
    `SMTP_START_TLS` (required then, never silently skipped); login when `SMTP_USER` is set."""
    import aiosmtplib

    if not settings.SMTP_HOST:
        raise RuntimeError("SMTP_HOST is not set")
    await aiosmtplib.send(
        message,
        hostname=settings.SMTP_HOST,
        port=settings.SMTP_PORT,
        username=settings.SMTP_USER or None,
        password=settings.SMTP_PASSWORD if settings.SMTP_USER else None,
        use_tls=settings.SMTP_USE_TLS,
        start_tls=settings.SMTP_START_TLS and not settings.SMTP_USE_TLS,
        timeout=settings.SMTP_TIMEOUT,
    )


async def send_ses(message: EmailMessage, settings: Settings) -> None:
    """Send the raw MIME message with SES in `AWS_REGION` (credentials from the AWS environment)."""

    def send() -> None:
        _ses_client(settings.AWS_REGION, settings.SMTP_TIMEOUT).send_raw_email(
            Source=settings.SMTP_SENDER_EMAIL,
            Destinations=[str(message["To"])],
            RawMessage={"Data": message.as_bytes()},
        )

    await asyncio.to_thread(send)


@lru_cache
def _ses_client(region: str, timeout: float) -> Any:
    """One client per process (building one costs more than a send); its own boto3
    session, because the default one is not safe to build clients from in threads."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2})
    return boto3.session.Session().client("ses", region_name=region, config=config)
