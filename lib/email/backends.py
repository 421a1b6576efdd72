"""Where messages go, chosen by `EMAIL_BACKEND`: the console, an SMTP server, or Amazon SES.

Each backend imports its client library only when it is used.
"""

from __future__ import annotations

import asyncio
import sys
from email.message import EmailMessage
from functools import lru_cache
from typing import Any, Literal

from lib.config import Settings, get_settings

SmtpSecurity = Literal["implicit_tls", "starttls", "plain"]
IMPLICIT_TLS_PORT = 465  # SMTPS (RFC 8314); submission on 587 and relays on 25 upgrade with STARTTLS


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

    It goes to stderr, so that stdout carries only the JSON log lines.

    Never in production: a reset link in a log file would let anyone who reads the logs
    take over the account.
    """
    if settings.ENVIRONMENT == "production":
        raise RuntimeError("EMAIL_BACKEND=console prints links and is for development; use smtp or ses")
    text = message.get_body(preferencelist=("plain",))
    body = text.get_content() if isinstance(text, EmailMessage) else ""
    rule = "-" * 72
    headers = f"To: {message['To']}\nFrom: {message['From']}\nSubject: {message['Subject']}"
    sys.stderr.write(f"{rule}\n{headers}\n\n{body.rstrip()}\n{rule}\n")
    sys.stderr.flush()


def smtp_security(*, use_tls: bool, port: int) -> SmtpSecurity:
    """`SMTP_USE_TLS` as the seed means it: TLS, implicit on port 465 and STARTTLS on any other
    port; false means plain SMTP (a local sink such as Mailpit)."""
    if not use_tls:
        return "plain"
    return "implicit_tls" if port == IMPLICIT_TLS_PORT else "starttls"


async def send_smtp(message: EmailMessage, settings: Settings, *, security: SmtpSecurity | None = None) -> None:
    """Send through `SMTP_HOST` with the `security` that `SMTP_USE_TLS` and `SMTP_PORT` choose;
    login when `SMTP_USER` is set.

    TLS is never silently skipped: STARTTLS is required when chosen, and the server's certificate
    is verified against the system's trust store (`SSL_CERT_FILE` names another bundle).
    """
    import aiosmtplib

    if not settings.SMTP_HOST:
        raise RuntimeError("SMTP_HOST is not set")
    if security is None:
        security = smtp_security(use_tls=settings.SMTP_USE_TLS, port=settings.SMTP_PORT)
    await aiosmtplib.send(
        message,
        hostname=settings.SMTP_HOST,
        port=settings.SMTP_PORT,
        username=settings.SMTP_USER or None,
        password=settings.SMTP_PASSWORD if settings.SMTP_USER else None,
        use_tls=security == "implicit_tls",
        start_tls=security == "starttls",
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
