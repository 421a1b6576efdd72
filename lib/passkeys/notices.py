"""Security notices by email when a passkey is added or removed.

A notice carries no text that whoever holds the session chose (no passkey name, no first name):
someone who stole a session must not be able to write to the owner in our name.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from lib.config import get_settings
from lib.email.outbox import queue_security_notice
from lib.models import EmailKind, User

PasskeyChange = Literal["added", "removed", "removed_by_admin"]

_SUBJECTS: dict[PasskeyChange, str] = {
    "added": "A passkey was added to your {app} account",
    "removed": "A passkey was removed from your {app} account",
    "removed_by_admin": "An administrator removed the passkeys of your {app} account",
}


def send_passkey_notice(session: AsyncSession, *, user: User, change: PasskeyChange) -> None:
    """Tell the owner what changed and when, in case it was not them; sent if the change commits."""
    subject = _SUBJECTS[change].format(app=get_settings().APP_NAME)
    queue_security_notice(session, kind=EmailKind.PASSKEY_CHANGED, user=user, subject=subject, change=change)
