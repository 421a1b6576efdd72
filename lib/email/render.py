"""Rendering a message from its templates: an HTML part (autoescaped) and a plain-text part."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from lib.config import get_settings
from lib.email import Email

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "email"


@lru_cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render(template: str, context: dict[str, object]) -> tuple[str, str]:
    """(plain text, HTML) of `template` with `context` plus `app_name`."""
    environment = _environment()
    values = {"app_name": get_settings().APP_NAME, **context}
    text = environment.get_template(f"{template}.txt").render(values)
    html = environment.get_template(f"{template}.html").render(values)
    return text, html


def build_message(email: Email) -> EmailMessage:
    settings = get_settings()
    text, html = render(email.template, email.context)
    sender = settings.SMTP_SENDER_EMAIL
    message = EmailMessage()
    message["Subject"] = email.subject
    message["From"] = formataddr((settings.APP_NAME, sender))
    message["To"] = email.to
    message["Date"] = formatdate(localtime=False)
    # With an explicit domain, make_msgid does not look up this host's name.
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message
