"""Turning the second factor on and off, and new recovery codes, for the signed-in user.

Each change locks the user's row first (the one lock order of `lib.users.rows`) and
ends every other session of the user for good; the caller's own session carries on under the
new epoch, so the page that made the change stays signed in. Changing an active second factor
takes the password and a code: both are checked under one throttle reservation, given back
only when both are right. The first code that confirms an enrolment is throttled alike, so
whoever holds a stolen session cannot guess a pending enrolment's codes (and take its recovery
codes).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from lib.config import get_settings
from lib.errors import InvalidPassword, MfaAlreadyEnabled, MfaNotEnabled, MfaNotPending, TokenRevoked, WrongMfaCode
from lib.events.record import record_event, record_failure
from lib.log import log_event
from lib.mfa.factors import consume_second_factor, replace_recovery_codes, turn_off_mfa
from lib.mfa.notices import send_mfa_notice
from lib.mfa.schemas import Enrolment
from lib.mfa.totp import is_totp_code, matching_step, new_secret, provisioning_uri, qr_svg
from lib.mfa.vault import decrypt_secret, encrypt_secret, normalize_code
from lib.models import SecurityEventType, User
from lib.security.passwords import verify_password
from lib.security.throttle import Reservation, release_attempt, release_this_attempt, reserve_login_attempt
from lib.sessions.lifecycle import end_other_sessions
from lib.sessions.schemas import ClientInfo
from lib.users.rows import lock_unchanged

THROTTLED = "Too many failed attempts; try again later"


async def _check_password(
    session: AsyncSession, *, user: User, password: str, client: ClientInfo, during: str
) -> Reservation:
    """A throttled password check (a wrong one counts as a failed login); the caller gives the
    reservation back once everything it asks for is right."""
    reservation = await reserve_login_attempt(session, user_id=user.id, ip_address=client.ip_address, message=THROTTLED)
    valid, _ = await verify_password(password, user.hashed_password)
    if not valid:
        log_event("mfa_change_failure", reason="wrong_password", user_id=user.id, ip=client.ip_address)
        details = {"reason": "invalid_credentials", "during": during}
        await record_failure(session, type=SecurityEventType.LOGIN_FAILED, user_id=user.id, details=details)
        raise InvalidPassword()
    return reservation


async def _lock(session: AsyncSession, user: User) -> User:
    """The user's row, locked, as long as nothing ended the caller's session since it was read."""
    locked = await lock_unchanged(session, user)
    if locked is None or not locked.is_active:
        raise TokenRevoked()  # deactivated, or a reset, password change or logout ended this session meanwhile
    return locked


async def _end_other_sessions(session: AsyncSession, *, user: User, keep: uuid.UUID) -> None:
    if not await end_other_sessions(session, user=user, keep=keep):
        raise TokenRevoked()


async def start_enrolment(session: AsyncSession, *, user: User, password: str, client: ClientInfo) -> Enrolment:
    """A new secret, kept (encrypted) but not in force until a first code confirms it."""
    if user.mfa_enabled:
        raise MfaAlreadyEnabled()
    reservation = await _check_password(session, user=user, password=password, client=client, during="mfa_enrolment")
    locked = await _lock(session, user)
    if locked.mfa_enabled:
        raise MfaAlreadyEnabled()
    await release_this_attempt(session, reservation)
    secret = new_secret()
    locked.totp_secret_encrypted = encrypt_secret(secret)
    locked.totp_last_step = None
    uri = provisioning_uri(secret, account=locked.email, issuer=get_settings().APP_NAME)
    log_event("mfa_enrolment_started", user_id=locked.id)
    return Enrolment(secret=secret, otpauth_uri=uri, qr_svg=qr_svg(uri))


async def confirm_enrolment(
    session: AsyncSession, *, user: User, session_id: uuid.UUID, code: str, client: ClientInfo
) -> list[str]:
    """Turn MFA on with a first code of the pending secret; the recovery codes, shown once.
    A wrong code counts toward the account's login throttle (429 once it is used up)."""
    if user.mfa_enabled or not user.totp_secret_encrypted:
        raise MfaNotPending()
    reservation = await reserve_login_attempt(session, user_id=user.id, ip_address=client.ip_address, message=THROTTLED)
    locked = await _lock(session, user)
    if locked.mfa_enabled or not locked.totp_secret_encrypted:
        raise MfaNotPending()
    secret = decrypt_secret(locked.totp_secret_encrypted)
    step = matching_step(secret, normalize_code(code), after=None) if secret else None
    if step is None:
        log_event("mfa_change_failure", reason="wrong_enrolment_code", user_id=locked.id, ip=client.ip_address)
        details = {"reason": "invalid_code", "during": "mfa_enrolment"}
        await record_failure(session, type=SecurityEventType.MFA_FAILED, user_id=locked.id, details=details)
        raise WrongMfaCode()
    await release_this_attempt(session, reservation)
    locked.mfa_enabled = True
    locked.totp_last_step = step
    codes = await replace_recovery_codes(session, user_id=locked.id)
    await _end_other_sessions(session, user=locked, keep=session_id)
    send_mfa_notice(session, user=locked, change="enabled")
    await record_event(session, type=SecurityEventType.MFA_ENABLED, user_id=locked.id)
    log_event("mfa_enabled", user_id=locked.id)
    return codes


async def _verified_change(
    session: AsyncSession, *, user: User, password: str, code: str, client: ClientInfo, during: str
) -> User:
    """The user's locked row, once the password and a second factor (now spent) are right."""
    if not user.mfa_enabled:
        raise MfaNotEnabled()
    reservation = await _check_password(session, user=user, password=password, client=client, during=during)
    locked = await _lock(session, user)
    if not locked.mfa_enabled:
        raise MfaNotEnabled()
    factor = "totp" if is_totp_code(normalize_code(code)) else "recovery_code"
    if not await consume_second_factor(session, user=locked, code=code):
        log_event("mfa_change_failure", reason="wrong_code", user_id=locked.id, ip=client.ip_address)
        details = {"reason": "invalid_code", "factor": factor, "during": during}
        await record_failure(session, type=SecurityEventType.MFA_FAILED, user_id=locked.id, details=details)
        raise WrongMfaCode()
    await release_attempt(session, reservation)
    if factor == "recovery_code":
        await record_event(
            session, type=SecurityEventType.RECOVERY_CODE_USED, user_id=locked.id, details={"during": during}
        )
    return locked


async def regenerate_recovery_codes(
    session: AsyncSession, *, user: User, session_id: uuid.UUID, password: str, code: str, client: ClientInfo
) -> list[str]:
    locked = await _verified_change(
        session, user=user, password=password, code=code, client=client, during="recovery_codes_renewal"
    )
    codes = await replace_recovery_codes(session, user_id=locked.id)
    await _end_other_sessions(session, user=locked, keep=session_id)
    send_mfa_notice(session, user=locked, change="recovery_codes")
    await record_event(session, type=SecurityEventType.RECOVERY_CODES_RENEWED, user_id=locked.id)
    log_event("mfa_recovery_codes_replaced", user_id=locked.id)
    return codes


async def disable_mfa(
    session: AsyncSession, *, user: User, session_id: uuid.UUID, password: str, code: str, client: ClientInfo
) -> None:
    locked = await _verified_change(
        session, user=user, password=password, code=code, client=client, during="mfa_disable"
    )
    await turn_off_mfa(session, user=locked)
    await _end_other_sessions(session, user=locked, keep=session_id)
    send_mfa_notice(session, user=locked, change="disabled")
    await record_event(session, type=SecurityEventType.MFA_DISABLED, user_id=locked.id)
    log_event("mfa_disabled", user_id=locked.id, by="user")
