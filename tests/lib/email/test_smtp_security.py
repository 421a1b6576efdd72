"""`SMTP_USE_TLS` as the seed means it, against real local SMTP servers (aiosmtpd).

True (the default) means TLS: implicit TLS on port 465, STARTTLS on any other port;
false means plain SMTP. The TLS servers present a certificate issued by a throwaway CA
that the sending process trusts through `SSL_CERT_FILE`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from lib.config import Settings, get_settings
from lib.email import Email, backends
from lib.email.render import build_message
from tests.fixtures.mail import Mailbox, start_smtp_server, throwaway_ca_tls
from tests.fixtures.users import PASSWORD, UserFactory

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("use_tls", "port", "security"),
    [
        (True, 465, "implicit_tls"),
        (True, 587, "starttls"),
        (True, 25, "starttls"),
        (True, 2525, "starttls"),
        (False, 465, "plain"),
        (False, 587, "plain"),
        (False, 1025, "plain"),
    ],
)
def test_smtp_use_tls_chooses_implicit_tls_on_465_and_starttls_elsewhere(
    use_tls: bool, port: int, security: str
) -> None:
    assert backends.smtp_security(use_tls=use_tls, port=port) == security


def test_smtp_use_tls_defaults_to_true_and_port_to_587(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMTP_USE_TLS", raising=False)
    monkeypatch.delenv("SMTP_PORT", raising=False)
    settings = Settings(_env_file=None)
    assert (settings.SMTP_USE_TLS, settings.SMTP_PORT) == (True, 587)
    assert backends.smtp_security(use_tls=settings.SMTP_USE_TLS, port=settings.SMTP_PORT) == "starttls"


def a_message(to: str = "someone@example.com") -> Email:
    return Email(
        to=to,
        subject="Hello",
        template="password_changed",
        context={"first_name": None, "changed_at": "now", "link": "https://app.example.com/"},
    )


class TlsServers:
    """SMTP servers whose certificate a throwaway CA issued; `ca_file` is what clients must trust."""

    def __init__(self, directory: Path) -> None:
        self.context, self.ca_file = throwaway_ca_tls(directory)
        self.started: list[Controller] = []

    def starttls(self, **options: object) -> Mailbox:
        return self._start(tls_context=self.context, require_starttls=True, **options)

    def implicit(self) -> Mailbox:
        return self._start(ssl_context=self.context)

    def _start(self, **options: object) -> Mailbox:
        controller, mailbox = start_smtp_server(**options)
        self.started.append(controller)
        return mailbox


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[TlsServers]:
    servers = TlsServers(tmp_path)
    yield servers
    for controller in servers.started:
        controller.stop()


def smtp_env(mailbox: Mailbox, **overrides: str) -> dict[str, str]:
    return {
        "EMAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mailbox.port),
        "SMTP_TIMEOUT": "5",
        **overrides,
    }


async def test_false_sends_plain_smtp_to_a_local_sink(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    controller, mailbox = start_smtp_server()  # offers no STARTTLS, like Mailpit
    try:
        settings_env(**smtp_env(mailbox, SMTP_USE_TLS="false"))
        user = await users.sign_up()
        token = mailbox.last(user.email, "Confirm").token("verify-email")
        assert (await client.post("/api/v1/verify-email", json={"token": token})).status_code == 204
    finally:
        controller.stop()


async def test_true_on_a_non_465_port_uses_starttls(
    client: httpx.AsyncClient,
    users: UserFactory,
    settings_env: Callable[..., None],
    tls: TlsServers,
) -> None:
    mailbox = tls.starttls()
    settings_env(**smtp_env(mailbox, SMTP_USE_TLS="true"), SSL_CERT_FILE=str(tls.ca_file))
    user = await users.sign_up()
    token = mailbox.last(user.email, "Confirm").token("verify-email")
    assert (await client.post("/api/v1/verify-email", json={"token": token})).status_code == 204


async def test_true_never_falls_back_to_plain_when_starttls_is_missing(
    users: UserFactory, settings_env: Callable[..., None]
) -> None:
    controller, mailbox = start_smtp_server()
    try:
        settings_env(**smtp_env(mailbox, SMTP_USE_TLS="true"))
        await users.sign_up()  # the email fails (logged); the sign-up does not
        assert mailbox.messages == []
    finally:
        controller.stop()


async def test_implicit_tls_delivers_to_an_smtps_server(settings_env: Callable[..., None], tls: TlsServers) -> None:
    mailbox = tls.implicit()
    settings_env(**smtp_env(mailbox, SMTP_USE_TLS="true"), SSL_CERT_FILE=str(tls.ca_file))

    # What port 465 chooses (see the test of smtp_security), on a port a test may bind.
    await backends.send_smtp(build_message(a_message()), get_settings(), security="implicit_tls")

    assert mailbox.last("someone@example.com", "Hello").envelope_from == get_settings().SMTP_SENDER_EMAIL


@pytest.mark.parametrize("security", ["implicit_tls", "starttls"])
async def test_a_certificate_from_an_untrusted_ca_is_refused(
    settings_env: Callable[..., None], tls: TlsServers, security: str
) -> None:
    mailbox = tls.implicit() if security == "implicit_tls" else tls.starttls()
    settings_env(**smtp_env(mailbox, SMTP_USE_TLS="true"))  # the CA is not trusted

    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        await backends.send_smtp(build_message(a_message()), get_settings(), security=security)  # type: ignore[arg-type]
    assert mailbox.messages == []


_SIGN_UP_WITH_DOTENV = """
import asyncio, sys
import httpx
from api._local import app

async def main():
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        response = await client.post("/api/v1/sign-up", json={
            "email": sys.argv[1], "username": "seeduser", "password": sys.argv[2], "first_name": "Seed"})
        print("status", response.status_code)

asyncio.run(main())
"""


async def test_the_seed_dotenv_sends_a_verification_email_through_starttls(
    client: httpx.AsyncClient, tls: TlsServers, tmp_path: Path
) -> None:
    def authenticator(
        _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, data: object
    ) -> AuthResult:
        return AuthResult(success=data == LoginPassword(b"apikey", b"seed smtp password"), handled=False)

    mailbox = tls.starttls(authenticator=authenticator, auth_required=True)
    env_file = tmp_path / ".env"
    # The seed's names and values; SMTP_PORT is 587 in the seed, here a free port (any port but 465
    # means STARTTLS), and SMTP_USE_TLS stays at the seed's `True`.
    env_file.write_text(
        "# Auth service (seed .env)\n"
        "ENVIRONMENT=development\n"
        f"DATABASE_URL={os.environ['DATABASE_URL']}\n"
        f"RSA_PRIVATE_KEY_CONTENT={os.environ['RSA_PRIVATE_KEY_CONTENT']}\n"
        "EMAIL_BACKEND=smtp\n"
        "SMTP_HOST=127.0.0.1\n"
        f"SMTP_PORT={mailbox.port}\n"
        "SMTP_USER=apikey\n"
        'SMTP_PASSWORD="seed smtp password"\n'
        "SMTP_SENDER_EMAIL=no-reply@seed.example.com\n"
        "SMTP_USE_TLS=True\n"
        "FRONTEND_URL=https://app.example.com  # where the links point\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", _SIGN_UP_WITH_DOTENV, "seed@example.com", PASSWORD],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "ENV_FILE": str(env_file), "SSL_CERT_FILE": str(tls.ca_file)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    assert "status 201" in process.stdout.splitlines(), process.stdout + process.stderr

    received = mailbox.last("seed@example.com", "Confirm")
    assert received.envelope_from == "no-reply@seed.example.com"
    assert received.text.startswith("Hello,")
    assert "Seed" not in received.text  # the address is not verified yet: no name in the email
    token = received.token("verify-email")
    assert f"https://app.example.com/verify-email?token={token}" in received.text
    assert (await client.post("/api/v1/verify-email", json={"token": token})).status_code == 204
