"""Every table, each in its own module, loaded when first named.

`from lib.models import User` loads `lib.models.user` only: a function builds the SQLModel
classes (a few milliseconds each, at import) of the tables it uses and no others.
`metadata` loads every table first, so that Alembic and the tests see one complete schema.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sqlmodel import SQLModel

from lib.models.base import utcnow

if TYPE_CHECKING:
    from sqlalchemy import MetaData

    from lib.models.attempt import Attempt
    from lib.models.email_outbox import EmailKind, EmailOutbox, EmailState
    from lib.models.email_token import EmailToken, EmailTokenPurpose
    from lib.models.passkey import Passkey, WebAuthnChallenge
    from lib.models.recovery_code import RecoveryCode
    from lib.models.security_event import SecurityEventRecord, SecurityEventType
    from lib.models.session import AuthSession, RefreshToken
    from lib.models.user import Role, User

    metadata: MetaData

_MODULES = {
    "AuthSession": "session",
    "EmailKind": "email_outbox",
    "EmailOutbox": "email_outbox",
    "EmailState": "email_outbox",
    "EmailToken": "email_token",
    "EmailTokenPurpose": "email_token",
    "Attempt": "attempt",
    "Passkey": "passkey",
    "RecoveryCode": "recovery_code",
    "RefreshToken": "session",
    "SecurityEventRecord": "security_event",
    "SecurityEventType": "security_event",
    "Role": "user",
    "User": "user",
    "WebAuthnChallenge": "passkey",
}


def load_all() -> MetaData:
    """Import every table; the metadata that then holds them all."""
    for module in sorted(set(_MODULES.values())):
        importlib.import_module(f"lib.models.{module}")
    from lib.models.base import metadata

    return metadata


def loaded_tables() -> list[type[SQLModel]]:
    """The table classes imported so far in this process."""
    return [mapper.class_ for mapper in SQLModel._sa_registry.mappers]


def __getattr__(name: str) -> Any:
    if name == "metadata":
        return load_all()
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"lib.models.{module}"), name)


__all__ = [
    "Attempt",
    "AuthSession",
    "EmailKind",
    "EmailOutbox",
    "EmailState",
    "EmailToken",
    "EmailTokenPurpose",
    "Passkey",
    "RecoveryCode",
    "RefreshToken",
    "Role",
    "SecurityEventRecord",
    "SecurityEventType",
    "User",
    "WebAuthnChallenge",
    "load_all",
    "loaded_tables",
    "metadata",
    "utcnow",
]
