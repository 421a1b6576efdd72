"""Checking a second factor (a TOTP code or a recovery code) and keeping recovery codes."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.mfa.totp import is_totp_code, matching_step
from lib.mfa.vault import decrypt_secret, new_recovery_codes, normalize_code, recovery_code_digest
from lib.models import RecoveryCode, User, utcnow


async def consume_second_factor(session: AsyncSession, *, user: User, code: str) -> bool:
    """Whether `code` is a current TOTP code not used before or an unused recovery code of
    `user`; either is spent by this call. Six digits are read as a TOTP code, anything else as
    a recovery code. The caller holds the user's row lock, so two requests with one code
    cannot both pass."""
    code = normalize_code(code)
    if is_totp_code(code):
        secret = decrypt_secret(user.totp_secret_encrypted) if user.totp_secret_encrypted else None
        step = matching_step(secret, code, after=user.totp_last_step) if secret else None
        if step is None:
            return False
        user.totp_last_step = step
        return True
    spent = await session.execute(
        update(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user.id,
            col(RecoveryCode.code_hash) == recovery_code_digest(code),
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=utcnow())
        .returning(col(RecoveryCode.id))
    )
    return spent.first() is not None


async def replace_recovery_codes(session: AsyncSession, *, user_id: uuid.UUID) -> list[str]:
    """Ten new recovery codes for the user (returned once, stored as digests); the old ones die."""
    await delete_recovery_codes(session, user_id=user_id)
    codes = new_recovery_codes()
    session.add_all(RecoveryCode(user_id=user_id, code_hash=recovery_code_digest(code)) for code in codes)
    await session.flush()
    return codes


async def delete_recovery_codes(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    await session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))


async def turn_off_mfa(session: AsyncSession, *, user: User) -> None:
    """Forget the secret, the last step and the recovery codes. The caller holds the row lock."""
    user.mfa_enabled = False
    user.totp_secret_encrypted = None
    user.totp_last_step = None
    await delete_recovery_codes(session, user_id=user.id)
