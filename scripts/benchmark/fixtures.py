"""Users with live sessions, made straight in the database, and the requests sent to the functions."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from scripts.benchmark.plan import PASSWORD


@dataclass
class Identity:
    email: str
    username: str
    access_token: str
    refresh_token: str
    user_id: uuid.UUID


def request(
    method: str, path: str, *, token: str | None = None, json_body: object = None, form: dict[str, str] | None = None
) -> dict[str, Any]:
    """A request as the worker and `call_asgi` take it: method, path, header pairs and body text."""
    headers: list[list[str]] = []
    body = ""
    if token:
        headers.append(["authorization", f"Bearer {token}"])
    if json_body is not None:
        headers.append(["content-type", "application/json"])
        body = json.dumps(json_body)
    elif form is not None:
        headers.append(["content-type", "application/x-www-form-urlencoded"])
        body = urlencode(form)
    return {"method": method, "path": path, "headers": headers, "body": body}


def login_request(who: Identity) -> dict[str, Any]:
    return request("POST", "/api/v1/login", form={"username": who.email, "password": PASSWORD})


class Fixtures:
    """Users created straight in the database (one hash reused), each with a live session."""

    def __init__(self) -> None:
        self.hashed: str | None = None
        self.counter = 0

    async def identity(self, role: str = "user") -> Identity:
        from sqlalchemy.ext.asyncio import AsyncSession

        from lib.db import get_engine
        from lib.models import SecurityEventType, User
        from lib.security.passwords import hash_password
        from lib.sessions.schemas import ClientInfo
        from lib.sessions.start import start_session

        if self.hashed is None:
            self.hashed = await hash_password(PASSWORD)
        self.counter += 1
        tag = f"{uuid.uuid4().hex[:10]}{self.counter}"
        async with AsyncSession(get_engine(), expire_on_commit=False) as session:
            user = User(
                email=f"bench-{tag}@example.com", username=f"bench_{tag}", hashed_password=self.hashed, role=role
            )
            session.add(user)
            await session.flush()
            client = ClientInfo(user_agent="bench")
            pair = await start_session(session, user=user, client=client, event=SecurityEventType.SIGN_UP)
            await session.commit()
        return Identity(user.email, user.username, pair.access_token, pair.refresh_token, user.id)

    async def mfa_challenge(self) -> tuple[str, list[str]]:
        """A user who turned two-factor login on through the functions' own endpoints (as the
        tests enrol one): the `mfa_token` its password step answers with, and its recovery codes."""
        import httpx

        import api.login
        import api.mfa
        from tests.fixtures.mfa import enrol, mfa_token
        from tests.fixtures.users import SignedUp

        who = await self.identity()
        member = SignedUp(who.email, who.username, PASSWORD, who.access_token, who.refresh_token, body={})
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.mfa.app), base_url="http://bench") as mfa:
            enrolled = await enrol(mfa, member, password=PASSWORD)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api.login.app), base_url="http://bench"
        ) as login:
            return await mfa_token(login, who.email, PASSWORD), enrolled.recovery_codes
