"""The clients of the mixed load: what each one sends, in which order, and what it keeps."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scripts.benchmark.plan import PASSWORD

if TYPE_CHECKING:
    import httpx

# "grant" is the token endpoint's refresh grant; a revoked session is followed by a sign-up,
# which gives the client a new account and session.
PATTERN = ["me", "refresh", "me", "jwks", "login", "me", "grant", "jwks", "me", "revoke", "sign-up"]
# Every MFA_EVERY-th client turns two-factor login (TOTP) on after its sign-up ("enrol" with the
# password, "confirm" with a first code) and keeps that account: each of its logins is the
# password ("challenge": 403 mfa_required with an mfa_token) then a code ("mfa", /login/mfa),
# and a revoked session is followed by such a login rather than by a sign-up.
MFA_EVERY = 4
MFA_START = ["sign-up", "enrol", "confirm"]
MFA_PATTERN = [step for kind in PATTERN for step in (["challenge", "mfa"] if kind in ("login", "sign-up") else [kind])]
EXPECTED = {
    "sign-up": 201,
    "login": 200,
    "me": 200,
    "refresh": 200,
    "grant": 200,
    "revoke": 200,
    "jwks": 200,
    "enrol": 200,
    "confirm": 200,
    "challenge": 403,
    "mfa": 200,
}
ISSUES_TOKENS = {"sign-up", "login", "refresh", "grant", "mfa"}


def client_steps(count: int, *, mfa: bool) -> list[str]:
    """The kinds of a client's `count` requests, in order."""
    start, cycle = (MFA_START, MFA_PATTERN) if mfa else (["sign-up"], PATTERN)
    return (start + cycle * (count // len(cycle) + 1))[:count]


class Authenticator:
    """A load client's authenticator: a code the server accepts for each second factor it sends.

    The server (`lib.mfa.totp.matching_step`) accepts the code of a step within one step of its
    own and later than the last one it accepted, so a code is never accepted twice. The next code
    is that of the current step, or of the next one when the current step's is spent: both stay
    acceptable if the server's clock has moved on to the next step by the time it checks. When
    both are spent (a third code within one 30-second step), a recovery code stands in; when those
    are spent too, the client waits for the next step, as a person would (`wait_seconds`)."""

    def __init__(self, secret: str) -> None:
        import pyotp

        self.totp = pyotp.TOTP(secret)
        self.last_step: int | None = None
        self.recovery_codes: list[str] = []

    def _next_step(self) -> tuple[int, int]:
        now = self.totp.timecode(time.time())
        return now, now if self.last_step is None or self.last_step < now else self.last_step + 1

    def wait_seconds(self) -> float:
        """How long until a code is at hand: 0 unless every acceptable step and recovery code is spent."""
        now, step = self._next_step()
        if step <= now + 1 or self.recovery_codes:
            return 0.0
        return (now + 1) * self.totp.interval - time.time() + 0.1

    def code(self) -> str:
        now, step = self._next_step()
        if step <= now + 1:
            self.last_step = step
            return self.totp.generate_otp(step)
        if not self.recovery_codes:
            raise RuntimeError("the load client has used every TOTP step and recovery code it had")
        return self.recovery_codes.pop()


@dataclass
class LoadClient:
    """One client of the load: its account, its tokens and, for an MFA client, its authenticator."""

    index: int
    login_name: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    authenticator: Authenticator | None = None
    mfa_token: str = ""
    mfa_code: str = ""
    mfa_logins: int = 0
    recovery_code_logins: int = 0

    @property
    def forwarded(self) -> dict[str, str]:
        # Each client from an address of its own (RFC 2544's benchmarking range), as real clients
        # are: one address for all would meet the per-address sign-up limit, not the load.
        return {"X-Forwarded-For": f"198.18.{self.index // 256}.{self.index % 256}"}

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['a']}"}

    def _authenticator(self) -> Authenticator:
        if self.authenticator is None:
            raise RuntimeError("no enrolment: the client's enrol step failed")
        return self.authenticator

    async def send(self, client: httpx.AsyncClient, kind: str) -> httpx.Response:
        """The request of this kind, with what the client holds; its response."""
        if kind == "sign-up":
            tag = uuid.uuid4().hex[:12]
            self.login_name = f"load_{tag}"
            payload = {"email": f"load-{tag}@example.com", "username": self.login_name, "password": PASSWORD}
            return await client.post("/api/v1/sign-up", json=payload, headers=self.forwarded)
        if kind in ("login", "challenge"):
            credentials = {"username": self.login_name, "password": PASSWORD}
            return await client.post("/api/v1/login", data=credentials, headers=self.forwarded)
        if kind == "mfa":
            self.mfa_code = self._authenticator().code()
            body = {"mfa_token": self.mfa_token, "code": self.mfa_code}
            return await client.post("/api/v1/login/mfa", json=body, headers=self.forwarded)
        if kind == "enrol":
            path, body = "/api/v1/user/me/mfa/totp", {"password": PASSWORD}
            return await client.post(path, json=body, headers={**self.bearer, **self.forwarded})
        if kind == "confirm":
            body = {"code": self._authenticator().code()}
            return await client.post("/api/v1/user/me/mfa/totp/confirm", json=body, headers=self.bearer)
        if kind == "me":
            return await client.get("/api/v1/user/me", headers=self.bearer)
        if kind == "refresh":
            return await client.post("/api/v1/refresh", json={"refresh_token": self.tokens["r"]})
        if kind == "grant":
            form = {"grant_type": "refresh_token", "refresh_token": self.tokens["r"]}
            return await client.post("/api/v1/login", data=form)
        if kind == "revoke":
            return await client.post("/api/v1/revoke", data={"token": self.tokens["r"]})
        return await client.get("/.well-known/jwks.json")

    def take(self, kind: str, response: httpx.Response) -> bool:
        """Whether the answer is the expected one; keeps what it hands the client."""
        if response.status_code != EXPECTED[kind]:
            return False
        if kind in {"me", "jwks", "revoke"}:
            return True
        body = response.json()
        if kind in ISSUES_TOKENS:
            self.tokens = {"a": body["access_token"], "r": body["refresh_token"]}
            if kind == "mfa":
                self.mfa_logins += 1
                self.recovery_code_logins += not self.mfa_code.isdigit()
        elif kind == "challenge":
            if body["code"] != "mfa_required":
                return False
            self.mfa_token = body["mfa_token"]
        elif kind == "enrol":
            self.authenticator = Authenticator(body["secret"])
        elif kind == "confirm":
            self._authenticator().recovery_codes = list(body["recovery_codes"])
        return True
