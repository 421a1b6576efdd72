"""Issuing a token pair in a session, and ending sessions (`lib.sessions.start` starts them).

Sessions end for good: every change that must end a user's sessions (password change or
reset, deactivation, demotion, logout) locks the user's row (`lib.users.rows.lock_user`) and
raises its `session_epoch`; a session is live only while its `epoch` equals the user's. One
lock order everywhere: the user's row first, then its sessions, refresh tokens and email links.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.models import AuthSession, RefreshToken, User, utcnow
from lib.security.digest import token_digest
from lib.security.tokens import PASSWORD_ONLY, create_access_token, create_refresh_token
from lib.sessions.schemas import TokenPair


def signed_pair(
    *,
    user_id: uuid.UUID,
    role: str,
    session_id: uuid.UUID,
    parent_id: uuid.UUID | None,
    amr: tuple[str, ...],
    issued_at: int | None,
    client_id: str | None,
    jti: uuid.UUID | None = None,
) -> tuple[TokenPair, dict[str, Any]]:
    """A new access token and a refresh token (a new one, or the one `jti` names signed again) in
    the session, and the refresh token's row to record."""
    jti = jti or uuid.uuid4()
    refresh = create_refresh_token(
        user_id=user_id, session_id=session_id, jti=jti, amr=amr, issued_at=issued_at, client_id=client_id
    )
    access = create_access_token(user_id=user_id, role=role, session_id=session_id, amr=amr, client_id=client_id)
    expires_at = datetime.fromtimestamp(refresh.expires_at, UTC)
    pair = TokenPair(
        access_token=access.token,
        refresh_token=refresh.token,
        expires_in=access.expires_at - access.issued_at,
        session_id=session_id,
        refresh_expires_at=expires_at,
    )
    row = {
        "id": jti,
        "user_id": user_id,
        "session_id": session_id,
        "token_hash": token_digest(refresh.token),
        "expires_at": expires_at,
        "issued_at": refresh.issued_at,
        "parent_id": parent_id,
    }
    return pair, row


async def issue_token_pair(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    role: str,
    session_id: uuid.UUID,
    parent_id: uuid.UUID | None = None,
    amr: tuple[str, ...] = PASSWORD_ONLY,
    issued_at: int | None = None,
    client_id: str | None = None,
) -> TokenPair:
    """Sign a new access and refresh token in the session and record the refresh token."""
    pair, row = signed_pair(
        user_id=user_id,
        role=role,
        session_id=session_id,
        parent_id=parent_id,
        amr=amr,
        issued_at=issued_at,
        client_id=client_id,
    )
    await session.execute(insert(RefreshToken.__table__).values(**row))  # type: ignore[attr-defined]
    return pair


def reissue_token_pair(
    *,
    user_id: uuid.UUID,
    role: str,
    session_id: uuid.UUID,
    amr: tuple[str, ...],
    client_id: str,
    token: RefreshToken,
) -> TokenPair | None:
    """A new access token with the refresh token `token` records, signed again: the very token
    that was issued (RS256 signatures are deterministic). None when it cannot be reproduced (a
    row from before `issued_at` was kept, or the refresh lifetime changed since)."""
    if token.issued_at is None:
        return None
    pair, row = signed_pair(
        user_id=user_id,
        role=role,
        session_id=session_id,
        parent_id=token.parent_id,
        amr=amr,
        issued_at=token.issued_at,
        client_id=client_id,
        jti=token.id,
    )
    return pair if hmac.compare_digest(row["token_hash"], token.token_hash) else None


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


async def revoke_session(session: AsyncSession, *, session_id: uuid.UUID) -> uuid.UUID | None:
    """Revoke the session if it is live; its user's id, or None when there was nothing to revoke."""
    revoked = await session.execute(
        update(AuthSession)
        .where(col(AuthSession.id) == session_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
        .returning(col(AuthSession.user_id))
    )
    return revoked.scalar_one_or_none()
