"""Dependencies shared by the functions, as `Annotated` aliases."""

from __future__ import annotations

import hmac
import ipaddress
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.config import get_settings
from lib.db import get_session
from lib.errors import (
    EmailNotVerified,
    Forbidden,
    InvalidToken,
    ServiceUnavailable,
    TokenExpired,
    TokenRevoked,
    TransactionRetriesExhausted,
    Unauthorized,
)
from lib.events.context import RequestContext, remember_caller_session, remember_request
from lib.log import request_id_var
from lib.models import AuthSession, Role, User
from lib.openapi import raises
from lib.security.tokens import decode_token, load_keys, token_amr, uuid_claim
from lib.sessions.schemas import ClientInfo
from lib.users.rows import ensure_verified


@raises(ServiceUnavailable, TransactionRetriesExhausted)
async def get_request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's database session (`lib.db.get_session`), which knows where the request came
    from, for the security events it writes."""
    async with asynccontextmanager(get_session)() as session:
        context = RequestContext(
            ip_address=client_address(request),
            user_agent=request.headers.get("user-agent"),
            request_id=request_id_var.get(),
        )
        remember_request(session, context)
        yield session


Session = Annotated[AsyncSession, Depends(get_request_session, scope="function")]

# Once per process, at import: a cold start's first request checks and signs tokens at once.
load_keys()

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/login", auto_error=False)


@dataclass(frozen=True)
class Principal:
    user: User
    session_id: uuid.UUID
    claims: dict[str, Any]

    @property
    def amr(self) -> tuple[str, ...]:
        """The factors the caller's session passed, as its access token says."""
        return token_amr(self.claims)


# The caller's user and session in one query, built once at import (every authenticated request
# runs it): parameters `user_id` and `session_id`, the access token's `sub` and `sid`.
CALLER = (
    select(User, col(AuthSession.revoked_at), col(AuthSession.epoch))
    .join(AuthSession, col(AuthSession.user_id) == col(User.id))
    .where(col(User.id) == bindparam("user_id"), col(AuthSession.id) == bindparam("session_id"))
)


@raises(Unauthorized, InvalidToken, TokenExpired, TokenRevoked, EmailNotVerified)
async def get_principal(session: Session, token: Annotated[str | None, Depends(oauth2_scheme)]) -> Principal:
    """The caller behind a Bearer access token whose session is still live.

    Checking the session (one query, joined with the user) is what makes logout,
    password changes and deactivation end earlier access tokens at once: the session
    must be unrevoked and of the user's current epoch.
    """
    if not token:
        raise Unauthorized()
    claims = decode_token(token, "access")
    user_id, session_id = uuid_claim(claims, "sub"), uuid_claim(claims, "sid")
    row = (await session.execute(CALLER, {"user_id": user_id, "session_id": session_id})).first()
    if row is None:
        raise InvalidToken()
    user, revoked_at, epoch = row
    if revoked_at is not None or epoch != user.session_epoch or not user.is_active:
        raise TokenRevoked()
    ensure_verified(user.is_verified)
    remember_caller_session(session, session_id)
    return Principal(user=user, session_id=session_id, claims=claims)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


@raises(InvalidToken, TokenExpired, TokenRevoked, EmailNotVerified)
async def get_optional_principal(
    session: Session, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal | None:
    """The caller when a Bearer token was sent (and it must then be valid), else None."""
    return await get_principal(session, token) if token else None


OptionalPrincipal = Annotated[Principal | None, Depends(get_optional_principal)]


async def get_current_user(principal: CurrentPrincipal) -> User:
    return principal.user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Any:
    allowed = {role.value for role in roles}

    @raises(Forbidden)
    async def dependency(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise Forbidden()
        return user

    return Depends(dependency)


StaffUser = Annotated[User, require_roles(Role.ADMIN, Role.MODERATOR)]
AdminUser = Annotated[User, require_roles(Role.ADMIN)]


def forwarded_address(value: str) -> str | None:
    """The right-most address in a forwarding header: the one our trusted proxy itself saw.

    Entries left of it were written by the client or by proxies we do not know, and are ignored.
    """
    entry = value.rsplit(",", 1)[-1].strip().strip('"')
    if entry.startswith("[") and "]" in entry:  # "[2001:db8::1]:443"
        entry = entry[1 : entry.index("]")]
    elif entry.count(":") == 1:  # "203.0.113.7:443"
        entry = entry.partition(":")[0]
    try:
        return str(ipaddress.ip_address(entry))
    except ValueError:
        return None


def client_address(request: Request) -> str | None:
    """The caller's address: from `TRUSTED_IP_HEADER` when configured and valid, else the peer's."""
    header = get_settings().TRUSTED_IP_HEADER
    if header:
        value = request.headers.get(header)
        address = forwarded_address(value) if value else None
        if address is not None:
            return address
    return request.client.host if request.client else None


def get_client_info(request: Request) -> ClientInfo:
    return ClientInfo(user_agent=request.headers.get("user-agent"), ip_address=client_address(request))


Client = Annotated[ClientInfo, Depends(get_client_info)]


@raises(Unauthorized)
def require_cron_secret(authorization: Annotated[str | None, Header()] = None) -> None:
    """Only the scheduler knows `CRON_SECRET`; without one configured nobody gets in."""
    secret = get_settings().CRON_SECRET
    scheme, _, presented = (authorization or "").partition(" ")
    if not secret or scheme.lower() != "bearer":
        raise Unauthorized()
    if not hmac.compare_digest(presented.strip().encode(), secret.encode()):
        raise Unauthorized()


CronSecret = Depends(require_cron_secret)
