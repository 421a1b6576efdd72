"""The token endpoint's grants (RFC 6749): resource-owner password (4.3) and refresh token (6)."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from lib.oauth.forms import RefreshGrant, TokenGrant
from lib.sessions.login import login
from lib.sessions.rotation import rotate_refresh_token
from lib.sessions.schemas import ClientInfo, TokenPair


async def exchange_grant(session: AsyncSession, *, grant: TokenGrant, client: ClientInfo) -> TokenPair:
    """A new token pair for a password (a new session, for the client the request named) or for a
    refresh token (rotated in its session, which keeps its client)."""
    if isinstance(grant, RefreshGrant):
        return await rotate_refresh_token(session, presented=grant.refresh_token, client_id=grant.client_id)
    client = replace(client, client_id=grant.client_id)
    return await login(session, identifier=grant.username, password=grant.password, client=client)
