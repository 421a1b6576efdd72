"""The second step of a login to an account with MFA on.

The password step answers 403 `mfa_required` with an `mfa_token`: a signed token of its own
type (`typ: mfa+jwt`, never accepted as an access or refresh token), good for five minutes,
for one account, and only while that account's password, session epoch and count of exchanged
`mfa_token`s are the ones the password was checked against (a reset, a password change or a
logout voids it, and so does its own exchange: one password check, at most one session).
Exchanging it takes a code; wrong codes count toward the login throttle, and only a right code
gives the account's count back: a right password alone never does, or a thief of the password
could guess codes without end.
"""

from __future__ import annotations

import hmac
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from lib.db import commit_now
from lib.errors import EmailNotVerified, InvalidMfaCode, InvalidToken, TooManyRequests
from lib.events.record import record_event, record_failure
from lib.log import log_event
from lib.mfa.factors import consume_second_factor
from lib.mfa.totp import is_totp_code
from lib.mfa.vault import normalize_code
from lib.models import SecurityEventType, User
from lib.security.digest import token_digest
from lib.security.throttle import release_attempt, reserve_login_attempt
from lib.security.tokens import PASSWORD_AND_OTP, create_mfa_token, decode_token, token_client_id, uuid_claim
from lib.sessions.schemas import ClientInfo, TokenPair
from lib.sessions.start import start_login_session
from lib.users.rows import ensure_verified, lock_user

MFA_TOKEN_LIFETIME_SECONDS = 300
THROTTLED = "Too many failed logins; try again later"


def _binding(user: User) -> str:
    return token_digest(f"{user.id}:{user.session_epoch}:{user.hashed_password}:{user.mfa_logins}")[:32]


def issue_mfa_token(user: User, *, client_id: str | None = None) -> str:
    """The `mfa_token` of a password step that was right, bound to the user's current password,
    session epoch and count of exchanged `mfa_token`s; it carries the token request's
    `client_id` on to the session."""
    issued = create_mfa_token(
        user_id=user.id, binding=_binding(user), lifetime_seconds=MFA_TOKEN_LIFETIME_SECONDS, client_id=client_id
    )
    return issued.token


def _still_bound(user: User | None, claims: dict[str, object]) -> bool:
    return (
        user is not None
        and user.is_active
        and user.mfa_enabled
        and hmac.compare_digest(_binding(user), str(claims["bnd"]))
    )


async def complete_mfa_login(session: AsyncSession, *, mfa_token: str, code: str, client: ClientInfo) -> TokenPair:
    """Exchange an `mfa_token` and a TOTP or recovery code for a token pair whose `amr` is
    `["pwd", "otp"]`. 401 for a bad token or code, 429 once the account or address is throttled."""
    claims = decode_token(mfa_token, "mfa")
    user = await session.get(User, uuid_claim(claims, "sub"))
    if user is None or not _still_bound(user, claims):
        raise InvalidToken("This sign-in has expired; log in again")
    try:
        reservation = await reserve_login_attempt(
            session, user_id=user.id, ip_address=client.ip_address, message=THROTTLED
        )
    except TooManyRequests:
        await record_failure(
            session, type=SecurityEventType.MFA_FAILED, user_id=user.id, details={"reason": "throttled"}
        )
        raise
    locked = await lock_user(session, user_id=user.id)
    if locked is None or not _still_bound(locked, claims):
        raise InvalidToken("This sign-in has expired; log in again")
    factor = "totp" if is_totp_code(normalize_code(code)) else "recovery_code"
    if not await consume_second_factor(session, user=locked, code=code):
        log_event("login_failure", reason="wrong_mfa_code", user_id=locked.id, ip=client.ip_address)
        details = {"reason": "invalid_code", "factor": factor}
        await record_failure(session, type=SecurityEventType.MFA_FAILED, user_id=locked.id, details=details)
        raise InvalidMfaCode()
    locked.mfa_logins += 1  # this mfa_token is spent; a parallel exchange of it waits on the lock, then fails
    await release_attempt(session, reservation)
    if factor == "recovery_code":
        await record_event(session, type=SecurityEventType.RECOVERY_CODE_USED, user_id=locked.id)
    try:
        ensure_verified(locked.is_verified)
    except EmailNotVerified:
        await commit_now(session)  # the code is spent and the attempt was not a failure
        raise
    client = replace(client, client_id=token_client_id(claims))
    pair = await start_login_session(
        session, user=locked, client=client, event=SecurityEventType.MFA_SUCCEEDED, amr=PASSWORD_AND_OTP
    )
    log_event("login", user_id=locked.id, session_id=pair.session_id, ip=client.ip_address, amr="otp")
    return pair
