"""Two-factor login (TOTP) of the signed-in user: enrol, confirm, new recovery codes, turn off."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from mangum import Mangum

from lib.app import create_app
from lib.deps import Client, CurrentPrincipal, Session
from lib.errors import (
    InvalidPassword,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    MfaNotPending,
    MfaUnavailable,
    TokenRevoked,
    TooManyRequests,
    WrongMfaCode,
)
from lib.mfa import enrolment
from lib.mfa.schemas import ConfirmRequest, Enrolment, EnrolmentRequest, PasswordAndCode, RecoveryCodes
from lib.openapi import raises

router = APIRouter(tags=["user"])


@router.post("/api/v1/user/me/mfa/totp", response_model=Enrolment)
@raises(InvalidPassword, MfaAlreadyEnabled, TokenRevoked, TooManyRequests, MfaUnavailable)
async def start_totp(session: Session, me: CurrentPrincipal, data: EnrolmentRequest, client: Client) -> Enrolment:
    """Start enrolment with the password: a new secret, its `otpauth://` URI and QR code (not yet in force)."""
    return await enrolment.start_enrolment(session, user=me.user, password=data.password, client=client)


@router.post("/api/v1/user/me/mfa/totp/confirm", response_model=RecoveryCodes)
@raises(MfaNotPending, WrongMfaCode, TokenRevoked, TooManyRequests, MfaUnavailable)
async def confirm_totp(session: Session, me: CurrentPrincipal, data: ConfirmRequest, client: Client) -> RecoveryCodes:
    """Turn two-factor login on with a first code; the ten recovery codes are shown this once."""
    codes = await enrolment.confirm_enrolment(
        session, user=me.user, session_id=me.session_id, code=data.code, client=client
    )
    return RecoveryCodes(recovery_codes=codes)


@router.post("/api/v1/user/me/mfa/recovery-codes", response_model=RecoveryCodes)
@raises(InvalidPassword, MfaNotEnabled, WrongMfaCode, TokenRevoked, TooManyRequests, MfaUnavailable)
async def new_recovery_codes(
    session: Session, me: CurrentPrincipal, data: PasswordAndCode, client: Client
) -> RecoveryCodes:
    """Ten new recovery codes (with the password and a code); the old ones stop working."""
    codes = await enrolment.regenerate_recovery_codes(
        session, user=me.user, session_id=me.session_id, password=data.password, code=data.code, client=client
    )
    return RecoveryCodes(recovery_codes=codes)


@router.delete("/api/v1/user/me/mfa", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
@raises(InvalidPassword, MfaNotEnabled, WrongMfaCode, TokenRevoked, TooManyRequests, MfaUnavailable)
async def disable_mfa(session: Session, me: CurrentPrincipal, data: PasswordAndCode, client: Client) -> None:
    """Turn two-factor login off (with the password and a code)."""
    await enrolment.disable_mfa(
        session, user=me.user, session_id=me.session_id, password=data.password, code=data.code, client=client
    )


app = create_app(router)
handler = Mangum(app, lifespan="off")
