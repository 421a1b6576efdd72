from __future__ import annotations

import logging

import pytest

from lib.email import Email, redact, send_email
from lib.email.render import build_message, render

LINK = "https://app.example.com/reset-password?token=abc&x=<1>"


@pytest.mark.parametrize(
    ("template", "context"),
    [
        ("verify_email", {"first_name": "Ada", "link": LINK, "expires_in": "48 hours"}),
        ("reset_password", {"first_name": "Ada", "link": LINK, "expires_in": "60 minutes"}),
        ("password_changed", {"first_name": "Ada", "link": LINK, "changed_at": "28 November 2026 at 17:00 UTC"}),
    ],
)
def test_every_template_has_both_parts_with_app_name_and_link(template: str, context: dict[str, str]) -> None:
    text, html = render(template, context)

    assert "Auth Service" in text
    assert "Auth Service" in html
    if template == "verify_email":  # to an address not proven yet: no name, whatever is given
        assert text.startswith("Hello,\n")
        assert "Ada" not in text + html
    else:
        assert "Hello Ada," in text
    assert LINK in text
    assert 'href="https://app.example.com/reset-password?token=abc&amp;x=&lt;1&gt;"' in html
    for detail in (context.get("expires_in"), context.get("changed_at")):
        if detail:
            assert detail in text
            assert detail in html


def test_html_part_escapes_what_the_user_typed() -> None:
    context = {"first_name": "<b onclick='x'>Eve</b>", "link": LINK, "changed_at": "today"}
    text, html = render("password_changed", context)

    assert "&lt;b onclick=&#39;x&#39;&gt;Eve&lt;/b&gt;" in html
    assert "<b onclick" not in html
    assert "Hello <b onclick='x'>Eve</b>," in text


def test_message_has_a_plain_text_and_an_html_alternative() -> None:
    message = build_message(
        Email(
            to="ada@example.com",
            subject="Hello",
            template="verify_email",
            context={"first_name": None, "link": LINK, "expires_in": "1 hour"},
        )
    )

    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["To"] == "ada@example.com"
    assert message["From"] == "Auth Service <no-reply@example.com>"
    assert message["Message-ID"].endswith("@example.com>")
    assert "Hello," in message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


async def test_a_message_that_cannot_be_rendered_is_reported_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="auth.email"):
        sent = await send_email(Email(to="ada@example.com", subject="Hello", template="verify_email", context={}))

    assert sent is False
    assert "'verify_email' not sent: UndefinedError" in caplog.text


def test_redact_hides_link_tokens() -> None:
    assert redact("550 rejected https://x/verify-email?token=s3cr3t-T0ken_x&y=1") == (
        "550 rejected https://x/verify-email?token=[redacted]&y=1"
    )
