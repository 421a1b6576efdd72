"""Dependencies shared by the functions, as `Annotated` aliases."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from lib.db import get_session
from lib.errors import Forbidden, InvalidToken, TokenRevoked, Unauthorized
from lib.models import AuthSession, Role, User
from lib.security.tokens import decode_token, load_keys
from lib.sessions.tokens import ClientInfo

Session = Annotated[AsyncSession, Depends(get_session, scope="function")]

# Once per process, at import: a cold start's first request checks and signs tokens at once.
load_keys()

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/login", auto_error=False)


@dataclass(frozen=True)
class Principal:
    user: User
    session_id: uuid.UUID
    claims: dict[str, Any]


def _uuid_claim(claims: dict[str, Any], name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(claims[name]))
    except (KeyError, ValueError):
        raise InvalidToken() from None


async def get_principal(session: Session, token: Annotated[str | None, Depends(oauth2_scheme)]) -> Principal:
    """The caller behind a Bearer access token whose session is still live.

    Checking the session (one query, joined with the user) is what makes logout,
    password changes and deactivation end earlier access tokens at once.
    """
    if not token:
        raise Unauthorized()
    claims = decode_token(token, "access")
    user_id = _uuid_claim(claims, "sub")
    session_id = _uuid_claim(claims, "sid")
    row = (
        await session.execute(
            select(User, AuthSession.revoked_at)
            .join(AuthSession, AuthSession.user_id == User.id)
            .where(User.id == user_id, AuthSession.id == session_id)
        )
    ).first()
    if row is None:
        raise InvalidToken()
    user, revoked_at = row
    if revoked_at is not None or not user.is_active:
        raise TokenRevoked()
    return Principal(user=user, session_id=session_id, claims=claims)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def get_current_user(principal: CurrentPrincipal) -> User:
    return principal.user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Any:
    allowed = {role.value for role in roles}

    async def dependency(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise Forbidden()
        return user

    return Depends(dependency)


StaffUser = Annotated[User, require_roles(Role.ADMIN, Role.MODERATOR)]
AdminUser = Annotated[User, require_roles(Role.ADMIN)]


def get_client_info(request: Request) -> ClientInfo:
    client_host = request.client.host if request.client else None
    return ClientInfo(user_agent=request.headers.get("user-agent"), ip_address=client_host)


Client = Annotated[ClientInfo, Depends(get_client_info)]
