"""Sending email.

Importing this package is cheap: the templates (Jinja2), the message classes and the
backends (aiosmtplib, boto3) are imported only when a message is actually sent, so no
function pays for them at cold start.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("auth.email")

_TOKEN_IN_TEXT = re.compile(r"token=[^\s&\"'<>]+")


@dataclass(frozen=True)
class Email:
    """One message to render from `lib/templates/email/<template>.{txt,html}`."""

    to: str
    subject: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)


def redact(text: str) -> str:
    """`text` with any link token replaced, safe to log."""
    return _TOKEN_IN_TEXT.sub("token=[redacted]", text)


async def send_email(email: Email) -> bool:
    """Render and send `email` with the configured backend.

    Never raises: a failure is logged (without the message or its link) and
    reported as False, so the caller can decide what to undo.
    """
    from lib.email.backends import deliver
    from lib.email.render import build_message

    try:
        await deliver(build_message(email))
    except Exception as exc:
        logger.warning("email %r not sent: %s: %s", email.template, type(exc).__name__, redact(str(exc)))
        return False
    return True


__all__ = ["Email", "redact", "send_email"]
