"""Signing in with a passkey: request options for discoverable credentials, then the assertion.

No username is asked for: the authenticator picks the credential and says whose it is (the
user handle). The answer starts a session exactly as a password login does (the same
`start_login_session`, under the user's row lock), with `amr` ["hwk", "mfa"]: user verification is
required, so the passkey is two factors on its own and an MFA account needs no code after it.

Every failure answers 401 `invalid_passkey` and counts toward the per-address login throttle,
like a wrong password: the attempt is recorded, with the challenge used up, before anything is
verified, and given back only when the sign-in succeeds.
"""

from __future__ import annotations

import hmac
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from webauthn import generate_authentication_options, options_to_json, verify_authentication_response
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers.structs import UserVerificationRequirement

from lib.config import get_settings
from lib.db import commit_now
from lib.errors import EmailNotVerified, InvalidPasskey
from lib.log import log_event
from lib.models import Passkey as StoredPasskey
from lib.models import SecurityEventType, User, utcnow
from lib.passkeys.ceremony import MALFORMED, TIMEOUT_MS, answered_challenge, relying_party
from lib.passkeys.challenges import new_challenge, use_challenge
from lib.passkeys.schemas import AuthenticationCredential, credential_json
from lib.security.throttle import Limit, address_key, record_attempt, release_this_attempt
from lib.security.tokens import PASSKEY
from lib.sessions.schemas import ClientInfo, TokenPair
from lib.sessions.start import start_login_session
from lib.users.rows import ensure_verified, lock_user

THROTTLED = "Too many failed sign-ins; try again later"


def _address_limits(client: ClientInfo) -> list[Limit]:
    """The password login's per-address limit, on the same key: both kinds of failure count."""
    settings = get_settings()
    key = address_key(client.ip_address)
    if key is None:
        return []
    return [Limit(key, settings.LOGIN_MAX_FAILURES_PER_IP, settings.LOGIN_FAILURE_WINDOW_SECONDS, "address")]


async def authentication_options(session: AsyncSession, *, client: ClientInfo) -> str:
    """The JSON of `PublicKeyCredentialRequestOptions` (no `allowCredentials`); 429 while the
    address is throttled, so that no ceremony starts that could only fail."""
    limits = _address_limits(client)
    # Counted and given back at once: a check of the limit that leaves nothing behind.
    await release_this_attempt(
        session, await record_attempt(session, limits, message=THROTTLED, event="login_throttled")
    )
    options = generate_authentication_options(
        rp_id=relying_party().id,
        challenge=await new_challenge(session, ceremony="authentication"),
        timeout=TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options)


def _refuse(reason: str, client: ClientInfo, **fields: Any) -> InvalidPasskey:
    log_event("login_failure", method="passkey", reason=reason, ip=client.ip_address, **fields)
    return InvalidPasskey()


async def sign_in_with_passkey(
    session: AsyncSession, *, credential: AuthenticationCredential, client: ClientInfo
) -> TokenPair:
    data = credential_json(credential)
    reservation = await record_attempt(session, _address_limits(client), message=THROTTLED, event="login_throttled")
    challenge = answered_challenge(data)
    usable = challenge is not None and await use_challenge(session, challenge=challenge, ceremony="authentication")
    await commit_now(session)  # the attempt counts and the challenge is spent, whatever follows
    if not usable or challenge is None:
        raise _refuse("unknown_or_used_challenge", client)

    try:
        credential_id = base64url_to_bytes(credential.raw_id)
        user_handle = base64url_to_bytes(credential.response.user_handle or "")
    except MALFORMED:
        raise _refuse("malformed_credential", client) from None
    stored = (
        await session.execute(select(StoredPasskey).where(col(StoredPasskey.credential_id) == credential_id))
    ).scalar_one_or_none()
    if stored is None:
        raise _refuse("unknown_credential", client)
    if not user_handle or not hmac.compare_digest(user_handle, stored.user_id.bytes):
        raise _refuse("user_handle_mismatch", client, user_id=stored.user_id, passkey_id=stored.id)

    party = relying_party()
    try:
        # The stored count is checked below, once the signature is known to be good: a count
        # that goes backwards is then worth logging as a cloned authenticator.
        verified = verify_authentication_response(
            credential=data,
            expected_challenge=challenge,
            expected_rp_id=party.id,
            expected_origin=party.origins,
            credential_public_key=stored.public_key,
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except MALFORMED as exc:
        raise _refuse("assertion_failed", client, user_id=stored.user_id, detail=str(exc)[:200]) from None
    if (verified.new_sign_count > 0 or stored.sign_count > 0) and verified.new_sign_count <= stored.sign_count:
        log_event(
            "passkey_sign_count_regression",
            user_id=stored.user_id,
            passkey_id=stored.id,
            stored=stored.sign_count,
            presented=verified.new_sign_count,
            ip=client.ip_address,
        )
        raise _refuse("sign_count_regression", client, user_id=stored.user_id, passkey_id=stored.id)

    user = await lock_user(session, user_id=stored.user_id)
    if user is None or not user.is_active:
        raise _refuse("inactive", client, user_id=stored.user_id)
    # The count moves on only from the value just checked: of two assertions with one count
    # (a cloned authenticator racing the real one), one gets through.
    moved = await session.execute(
        update(StoredPasskey)
        .where(col(StoredPasskey.id) == stored.id, col(StoredPasskey.sign_count) == stored.sign_count)
        .values(sign_count=verified.new_sign_count, backed_up=verified.credential_backed_up, last_used_at=utcnow())
        .returning(col(StoredPasskey.id))
    )
    if moved.first() is None:
        raise _refuse("passkey_changed", client, user_id=stored.user_id, passkey_id=stored.id)
    await release_this_attempt(session, reservation)
    return await _start_session(session, user=user, passkey_id=stored.id, client=client)


async def _start_session(session: AsyncSession, *, user: User, passkey_id: uuid.UUID, client: ClientInfo) -> TokenPair:
    try:
        ensure_verified(user.is_verified)
    except EmailNotVerified:
        await commit_now(session)  # the passkey was right: the attempt is not a failure
        raise
    pair = await start_login_session(
        session, user=user, client=client, event=SecurityEventType.PASSKEY_LOGIN, amr=PASSKEY
    )
    log_event(
        "login", user_id=user.id, session_id=pair.session_id, ip=client.ip_address, amr="passkey", passkey_id=passkey_id
    )
    return pair
