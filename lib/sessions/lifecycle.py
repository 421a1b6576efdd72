"""Issuing a token pair for a session, and ending sessions.

Sessions end for good: every change that must end a user's sessions (password change or
reset, deactivation, demotion, logout) locks the user's row and raises its `session_epoch`;
a session is live only while its `epoch` equals the user's. One lock order everywhere: the
user's row first, then its sessions, refresh tokens and email links.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.models import AuthSession, RefreshToken, User, utcnow
from lib.security.digest import token_digest
from lib.security.tokens import PASSWORD_ONLY, create_access_token, create_refresh_token, refresh_token_expiry
from lib.sessions.schemas import ClientInfo, TokenPair


async def issue_token_pair(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    role: str,
    session_id: uuid.UUID,
    parent_id: uuid.UUID | None = None,
    amr: tuple[str, ...] = PASSWORD_ONLY,
    issued_at: int | None = None,
) -> TokenPair:
    """Sign a new access and refresh token in the session and record the refresh token."""
    jti = uuid.uuid4()
    refresh = create_refresh_token(user_id=user_id, session_id=session_id, jti=jti, amr=amr, issued_at=issued_at)
    access = create_access_token(user_id=user_id, role=role, session_id=session_id, amr=amr)
    expires_at = datetime.fromtimestamp(refresh.expires_at, UTC)
    await session.execute(
        insert(RefreshToken.__table__).values(  # type: ignore[attr-defined]
            id=jti,
            user_id=user_id,
            session_id=session_id,
            token_hash=token_digest(refresh.token),
            expires_at=expires_at,
            parent_id=parent_id,
        )
    )
    return TokenPair(
        access_token=access.token,
        refresh_token=refresh.token,
        expires_in=access.expires_at - access.issued_at,
        session_id=session_id,
        refresh_expires_at=expires_at,
    )


async def start_session(
    session: AsyncSession, *, user: User, client: ClientInfo, amr: tuple[str, ...] = PASSWORD_ONLY
) -> TokenPair:
    """A new session under the user's current epoch. The caller holds the user's row lock
    (or has just created the user), so no epoch change can slip in before it commits."""
    issued_at = int(time.time())
    auth_session = AuthSession(
        user_id=user.id,
        user_agent=(client.user_agent or None) and client.user_agent[:255],
        ip_address=client.ip_address,
        expires_at=datetime.fromtimestamp(refresh_token_expiry(issued_at), UTC),
        epoch=user.session_epoch,
    )
    session.add(auth_session)
    await session.flush()
    return await issue_token_pair(
        session, user_id=user.id, role=user.role, session_id=auth_session.id, amr=amr, issued_at=issued_at
    )


async def lock_user(session: AsyncSession, *, user_id: uuid.UUID) -> User | None:
    """The user's row, read afresh and locked until the transaction ends.

    FOR NO KEY UPDATE rather than FOR UPDATE: inserting a row that references the user
    (a session, a token) takes a key-share lock, which this one lets through, so such an
    insert never waits on it nor deadlocks with it.
    """
    statement = (
        select(User)
        .where(col(User.id) == user_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def end_user_sessions(session: AsyncSession, *, user: User) -> None:
    """End every session of `user` for good, including one that a racing login or refresh is
    creating: its epoch no longer matches. The caller holds the user's row lock."""
    user.session_epoch += 1
    await revoke_user_sessions(session, user_id=user.id)


async def end_other_sessions(session: AsyncSession, *, user: User, keep: uuid.UUID) -> bool:
    """End every session of `user` for good but `keep` (the caller's), which moves on to the new
    epoch: a second-factor change signs out everyone else. False when `keep` itself was no longer
    live (then it stays dead). The caller holds the user's row lock."""
    old_epoch = user.session_epoch
    user.session_epoch += 1
    await revoke_user_sessions(session, user_id=user.id, keep=keep)
    kept = await session.execute(
        update(AuthSession)
        .where(
            col(AuthSession.id) == keep,
            col(AuthSession.user_id) == user.id,
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.epoch) == old_epoch,
        )
        .values(epoch=user.session_epoch)
        .returning(col(AuthSession.id))
    )
    return kept.first() is not None


async def revoke_user_sessions(session: AsyncSession, *, user_id: uuid.UUID, keep: uuid.UUID | None = None) -> None:
    """Revoke every live session of the user (but `keep`); their access tokens die with them."""
    statement = (
        update(AuthSession)
        .where(col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    if keep is not None:
        statement = statement.where(col(AuthSession.id) != keep)
    await session.execute(statement)


async def revoke_session(session: AsyncSession, *, session_id: uuid.UUID) -> None:
    await session.execute(
        update(AuthSession)
        .where(col(AuthSession.id) == session_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
