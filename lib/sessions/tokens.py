"""Issuing a token pair for a session, and revoking sessions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.models import AuthSession, RefreshToken, User, utcnow
from lib.security.digest import token_digest
from lib.security.tokens import create_access_token, create_refresh_token


@dataclass(frozen=True)
class ClientInfo:
    user_agent: str | None = None
    ip_address: str | None = None


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: uuid.UUID


def issue_token_pair(session: AsyncSession, *, user: User, auth_session: AuthSession) -> TokenPair:
    """Sign a new access and refresh token in `auth_session` and record the refresh token's digest."""
    jti = uuid.uuid4()
    refresh = create_refresh_token(user_id=user.id, session_id=auth_session.id, jti=jti)
    access = create_access_token(user_id=user.id, role=user.role, session_id=auth_session.id)
    expires_at = datetime.fromtimestamp(refresh.expires_at, UTC)
    session.add(
        RefreshToken(
            id=jti,
            user_id=user.id,
            session_id=auth_session.id,
            token_hash=token_digest(refresh.token),
            expires_at=expires_at,
        )
    )
    auth_session.expires_at = expires_at
    auth_session.last_used_at = utcnow()
    return TokenPair(
        access_token=access.token,
        refresh_token=refresh.token,
        expires_in=access.expires_at - access.issued_at,
        session_id=auth_session.id,
    )


async def start_session(session: AsyncSession, *, user: User, client: ClientInfo) -> TokenPair:
    auth_session = AuthSession(
        user_id=user.id,
        user_agent=(client.user_agent or None) and client.user_agent[:255],
        ip_address=client.ip_address,
        expires_at=utcnow(),
    )
    session.add(auth_session)
    pair = issue_token_pair(session, user=user, auth_session=auth_session)
    await session.flush()
    return pair


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
