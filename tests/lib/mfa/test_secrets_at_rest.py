"""A database dump holds no usable second factor: the TOTP secret only encrypted under
MFA_ENCRYPTION_KEY, recovery codes only as keyed digests."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select

from lib.config import get_settings
from lib.db import get_engine
from lib.models import RecoveryCode, User
from tests.fixtures.mfa import enrol
from tests.fixtures.users import UserFactory


async def dump() -> list[dict[str, object]]:
    """Every row of the tables that hold MFA state, as a dump would have them."""
    async with get_engine().connect() as connection:
        rows = []
        for table in (User.__table__, RecoveryCode.__table__):  # type: ignore[attr-defined]
            rows += [dict(row._mapping) for row in (await connection.execute(select(table))).all()]
    return rows


async def test_a_dump_holds_neither_the_totp_secret_nor_the_recovery_codes(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.sign_up()
    enrolled = await enrol(client, me)
    rows = await dump()
    text = repr(rows).lower()
    assert enrolled.secret.lower() not in text
    for code in enrolled.recovery_codes:
        assert code not in text
        assert code.replace("-", "") not in text
        assert hashlib.sha256(code.encode()).hexdigest() not in text
        assert hashlib.sha256(code.replace("-", "").encode()).hexdigest() not in text

    stored = next(row["totp_secret_encrypted"] for row in rows if row.get("email") == me.email)
    assert isinstance(stored, str)
    assert enrolled.secret not in stored
    assert enrolled.secret.encode() not in base64.urlsafe_b64decode(stored + "==")
    with pytest.raises(InvalidToken):
        Fernet(Fernet.generate_key()).decrypt(stored.encode())
    # What the server holds the key to: it is the secret, encrypted.
    key = get_settings().MFA_ENCRYPTION_KEY
    assert key is not None
    assert Fernet(key).decrypt(stored.encode()).decode() == enrolled.secret
    assert len([row for row in rows if "code_hash" in row]) == 10


async def test_a_pending_enrolment_is_encrypted_too(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    secret = (await client.post("/api/v1/user/me/mfa/totp", headers=me.headers, json={"password": me.password})).json()[
        "secret"
    ]
    text = repr(await dump())
    assert secret not in text
    assert secret.lower() not in text.lower()
