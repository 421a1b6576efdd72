"""Token revocation (RFC 7009): a refresh token ends its whole session, and so does an access token.

Revoking the session (the refresh-token family) is what makes both kinds stop working: the
family can no longer be refreshed, and every access token of the session is refused by our
endpoints, which check the session. A token that is unknown, invalid, expired or already
revoked is no error: the answer is the same, so that it tells a caller nothing (RFC 7009 2.2).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from lib.errors import InvalidToken
from lib.log import log_event
from lib.security.tokens import TokenType, decode_token, uuid_claim
from lib.sessions.lifecycle import revoke_session

_SEARCH_ORDER: dict[str | None, tuple[TokenType, TokenType]] = {
    "access_token": ("access", "refresh"),
    "refresh_token": ("refresh", "access"),
    None: ("refresh", "access"),
}


def _session_of(token: str, hint: str | None) -> uuid.UUID | None:
    """The session a token of ours belongs to, trying the hinted type first (an unknown hint is ignored)."""
    for token_type in _SEARCH_ORDER.get(hint, _SEARCH_ORDER[None]):
        try:
            claims = decode_token(token, token_type)
        except InvalidToken:
            continue
        try:
            return uuid_claim(claims, "sid")
        except InvalidToken:
            return None
    return None


async def revoke_token(session: AsyncSession, *, token: str, token_type_hint: str | None = None) -> uuid.UUID | None:
    """Revoke the session of `token`; which one (None for a token that is not ours)."""
    session_id = _session_of(token, token_type_hint)
    if session_id is None:
        log_event("revocation_ignored", hint=token_type_hint)
        return None
    await revoke_session(session, session_id=session_id)
    log_event("session_revoked", session_id=session_id, via="revocation_endpoint")
    return session_id
