"""The token endpoint's grants (RFC 6749): resource-owner password (4.3) and refresh token (6)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from lib.sessions.login import login
from lib.sessions.rotation import rotate_refresh_token
from lib.sessions.schemas import ClientInfo, LoginRequest, RefreshRequest, TokenPair


async def exchange_grant(
    session: AsyncSession, *, grant: LoginRequest | RefreshRequest, client: ClientInfo
) -> TokenPair:
    """A new token pair for a password (a new session) or for a refresh token (rotated in its session)."""
    if isinstance(grant, RefreshRequest):
        return await rotate_refresh_token(session, presented=grant.refresh_token)
    return await login(session, identifier=grant.username, password=grant.password, client=client)
