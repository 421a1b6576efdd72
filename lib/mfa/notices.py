"""Security notices by email when the second factor changes."""

from __future__ import annotations

from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from lib.config import get_settings
from lib.email.outbox import queue_security_notice
from lib.models import EmailKind, User

MfaChange = Literal["enabled", "disabled", "disabled_by_admin", "recovery_codes"]

_SUBJECTS: dict[MfaChange, str] = {
    "enabled": "Two-factor login was turned on for your {app} account",
    "disabled": "Two-factor login was turned off for your {app} account",
    "disabled_by_admin": "An administrator turned off two-factor login for your {app} account",
    "recovery_codes": "New recovery codes were made for your {app} account",
}


def send_mfa_notice(session: AsyncSession, *, user: User, change: MfaChange) -> None:
    """Tell the owner what changed and when, in case it was not them; sent if the change commits."""
    subject = _SUBJECTS[change].format(app=get_settings().APP_NAME)
    queue_security_notice(session, kind=EmailKind.MFA_CHANGED, user=user, subject=subject, change=change)
