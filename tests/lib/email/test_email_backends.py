from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from lib.config import Settings
from lib.email import Email, backends
from lib.email.render import build_message
from tests.fixtures.mail import Mailbox, Received, read_message, start_smtp_server, throwaway_ca_tls
from tests.fixtures.users import UserFactory

ROOT = Path(__file__).resolve().parents[3]


def smtp_settings(mailbox: Mailbox, **overrides: str) -> dict[str, str]:
    return {
        "EMAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mailbox.port),
        "SMTP_USE_TLS": "false",
        "SMTP_TIMEOUT": "5",
        **overrides,
    }


async def assert_link_verifies(client: httpx.AsyncClient, token: str) -> None:
    response = await client.post("/api/v1/verify-email", json={"token": token})
    assert response.status_code == 204


@pytest.fixture
def aws(settings_env: Callable[..., None]) -> Iterator[None]:
    settings_env(
        EMAIL_BACKEND="ses",
        AWS_REGION="eu-west-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
    )
    backends._ses_client.cache_clear()
    with mock_aws():
        yield
    backends._ses_client.cache_clear()


async def test_ses_backend_sends_through_boto3(client: httpx.AsyncClient, users: UserFactory, aws: None) -> None:
    boto3.client("ses", region_name="eu-west-1").verify_email_identity(EmailAddress="no-reply@example.com")

    user = await users.sign_up(first_name="Ada")

    sent = list(ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].sent_messages)
    assert len(sent) == 1
    assert sent[0].source == "no-reply@example.com"
    assert user.email in sent[0].destinations
    received = Received("no-reply@example.com", [user.email], read_message(sent[0].raw_data))
    assert received.subject == "Confirm your email address for Auth Service"
    assert "Hello," in received.html
    assert "Ada" not in received.html  # the address is not verified yet: no name in the email
    await assert_link_verifies(client, received.token("verify-email"))


async def test_ses_refusing_the_sender_does_not_fail_sign_up(users: UserFactory, aws: None) -> None:
    await users.sign_up()  # the sender identity was never verified, so SES rejects the message

    assert ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].sent_messages == []


async def test_console_backend_prints_a_working_link(
    client: httpx.AsyncClient, users: UserFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    user = await users.sign_up()

    printed = capsys.readouterr().err
    assert f"To: {user.email}" in printed
    assert "Subject: Confirm your email address for Auth Service" in printed
    match = re.search(r"https://app\.example\.com/verify-email\?token=([A-Za-z0-9_\-]+)", printed)
    assert match is not None
    await assert_link_verifies(client, match[1])


async def test_smtp_backend_logs_in_with_smtp_user_after_starttls(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None], tmp_path: Path
) -> None:
    def authenticator(
        _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, data: object
    ) -> AuthResult:
        return AuthResult(success=data == LoginPassword(b"mailer", b"s3cret pass"), handled=False)

    tls_context, cert_file = throwaway_ca_tls(tmp_path)
    controller, mailbox = start_smtp_server(
        tls_context=tls_context, require_starttls=True, authenticator=authenticator, auth_required=True
    )
    try:
        settings_env(
            **smtp_settings(mailbox, SMTP_USE_TLS="true", SMTP_USER="mailer", SMTP_PASSWORD="wrong"),
            SSL_CERT_FILE=str(cert_file),
        )
        refused = await users.sign_up()
        assert mailbox.to(refused.email) == []

        settings_env(SMTP_PASSWORD="s3cret pass")
        user = await users.sign_up()
        await assert_link_verifies(client, mailbox.last(user.email).token("verify-email"))
    finally:
        controller.stop()


async def test_smtp_backend_uses_starttls_and_never_falls_back_to_plaintext(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None], tmp_path: Path
) -> None:
    tls_context, cert_file = throwaway_ca_tls(tmp_path)
    secure, secure_box = start_smtp_server(tls_context=tls_context, require_starttls=True)
    plain, plain_box = start_smtp_server()
    try:
        settings_env(**smtp_settings(secure_box, SMTP_USE_TLS="true"), SSL_CERT_FILE=str(cert_file))
        user = await users.sign_up()
        await assert_link_verifies(client, secure_box.last(user.email).token("verify-email"))

        settings_env(SMTP_PORT=str(plain_box.port))  # a server that offers no STARTTLS
        await users.sign_up()
        assert plain_box.messages == []
    finally:
        secure.stop()
        plain.stop()


_IMPORT_EVERY_FUNCTION = """
import importlib, pkgutil, sys
import api
for module in pkgutil.iter_modules(api.__path__):
    importlib.import_module(f"api.{module.name}")
import api._local
heavy = ("jinja2", "aiosmtplib", "boto3", "botocore", "lib.email.render", "lib.email.backends")
print(sorted(name for name in heavy if name in sys.modules))
if "--send" in sys.argv:
    import asyncio
    from lib.email import Email, send_email
    sent = asyncio.run(send_email(Email(to="a@example.com", subject="s", template="password_changed",
                                        context={"first_name": None, "changed_at": "now", "link": "x"})))
    print(sent, sorted(name for name in heavy if name in sys.modules))
"""


def run_python(*args: str) -> list[str]:
    """Run `_IMPORT_EVERY_FUNCTION` in a fresh interpreter (this one has imported everything)."""
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERY_FUNCTION, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip().splitlines()


def test_no_function_imports_the_email_stack_until_a_message_is_sent() -> None:
    lines = run_python("--send")

    assert lines[0] == "[]"  # after importing every api module and the local app
    assert lines[-1] == "True ['jinja2', 'lib.email.backends', 'lib.email.render']"


def test_console_backend_refuses_to_print_links_in_production(capsys: pytest.CaptureFixture[str]) -> None:
    # Production settings refuse EMAIL_BACKEND=console at start-up (tests/lib/test_config.py);
    # the backend refuses as well, should it ever be handed production settings.
    settings = Settings.model_construct(ENVIRONMENT="production")
    message = build_message(
        Email(
            to="a@example.com",
            subject="s",
            template="password_changed",
            context={"first_name": None, "changed_at": "now", "link": "https://app.example.com/verify-email?token=t"},
        )
    )

    with pytest.raises(RuntimeError, match="EMAIL_BACKEND=console"):
        backends.send_console(message, settings)

    captured = capsys.readouterr()
    assert "token=" not in captured.out + captured.err
