"""The signed-in user's passkeys: list, rename, remove; and an administrator's removal of all of
a user's passkeys (account recovery). Nobody but the user adds one. Loads nothing of py_webauthn."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.errors import NotFound
from lib.events.record import record_event
from lib.log import log_event
from lib.models import Passkey as StoredPasskey
from lib.models import SecurityEventType, User
from lib.passkeys.notices import send_passkey_notice
from lib.passkeys.schemas import Passkey
from lib.sessions.lifecycle import end_user_sessions
from lib.users.rows import get_user


async def list_passkeys(session: AsyncSession, *, user_id: uuid.UUID) -> list[Passkey]:
    rows = await session.execute(
        select(StoredPasskey)
        .where(col(StoredPasskey.user_id) == user_id)
        .order_by(col(StoredPasskey.created_at), col(StoredPasskey.id))
    )
    return [Passkey.model_validate(row) for row in rows.scalars().all()]


async def _own_passkey(session: AsyncSession, *, user_id: uuid.UUID, passkey_id: uuid.UUID) -> StoredPasskey:
    """The user's passkey; 404 alike for one that does not exist and one of another user."""
    stored = await session.get(StoredPasskey, passkey_id, with_for_update=True)
    if stored is None or stored.user_id != user_id:
        raise NotFound("Passkey not found")
    return stored


async def rename_passkey(session: AsyncSession, *, user_id: uuid.UUID, passkey_id: uuid.UUID, name: str) -> Passkey:
    stored = await _own_passkey(session, user_id=user_id, passkey_id=passkey_id)
    stored.name = name
    await session.flush()
    return Passkey.model_validate(stored)


async def delete_passkey(session: AsyncSession, *, user: User, passkey_id: uuid.UUID) -> None:
    """Remove one passkey; the owner is told (with no name: see `lib.passkeys.notices`)."""
    stored = await _own_passkey(session, user_id=user.id, passkey_id=passkey_id)
    await session.delete(stored)
    await session.flush()
    send_passkey_notice(session, user=user, change="removed")
    await record_event(session, type=SecurityEventType.PASSKEY_REMOVED, user_id=user.id, details={"by": "user"})
    log_event("passkey_removed", user_id=user.id, passkey_id=passkey_id, by="user")


async def delete_user_passkeys(session: AsyncSession, *, user_id: uuid.UUID, admin_id: uuid.UUID) -> None:
    """An administrator removes every passkey of a user (a lost or stolen device) and ends the
    user's sessions, as turning off their second factor does. 404 for an unknown user."""
    user = await get_user(session, user_id=user_id, for_update=True)
    removed = await session.execute(
        delete(StoredPasskey).where(col(StoredPasskey.user_id) == user.id).returning(col(StoredPasskey.id))
    )
    count = len(removed.all())
    if not count:
        return
    await end_user_sessions(session, user=user)
    send_passkey_notice(session, user=user, change="removed_by_admin")
    details = {"by": "admin", "count": count}
    await record_event(
        session, type=SecurityEventType.PASSKEY_REMOVED, user_id=user.id, actor_id=admin_id, details=details
    )
    log_event("passkey_removed", user_id=user.id, by="admin", admin_id=admin_id)
