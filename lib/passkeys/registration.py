"""Adding a passkey to the signed-in user's account: creation options, then the attestation.

The options ask for a discoverable credential (resident key) with user verification, exclude
the user's existing passkeys, and carry a challenge bound to this user. The answer is verified
by py_webauthn (attestation "none" is all we ask for: we trust the user's choice of
authenticator, not its maker); the challenge is used up whatever the outcome.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from webauthn import generate_registration_options, options_to_json, verify_registration_response
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from lib.db import commit_now, dialect_name
from lib.errors import PasskeyChallengeInvalid, PasskeyRejected, TokenRevoked
from lib.events.record import record_event
from lib.log import log_event
from lib.models import Passkey as StoredPasskey
from lib.models import SecurityEventType, User, utcnow
from lib.passkeys.ceremony import MALFORMED, TIMEOUT_MS, answered_challenge, relying_party
from lib.passkeys.challenges import new_challenge, use_challenge
from lib.passkeys.notices import send_passkey_notice
from lib.passkeys.schemas import Passkey, RegistrationCredential, credential_json
from lib.users.rows import lock_unchanged

DEFAULT_NAME = "Passkey"


async def registration_options(session: AsyncSession, *, user: User) -> str:
    """The JSON of `PublicKeyCredentialCreationOptions` for a new passkey of `user`."""
    existing = await session.execute(
        select(col(StoredPasskey.credential_id), col(StoredPasskey.transports)).where(
            col(StoredPasskey.user_id) == user.id
        )
    )
    exclude = [
        PublicKeyCredentialDescriptor(id=credential_id, transports=_known_transports(transports))
        for credential_id, transports in existing.all()
    ]
    party = relying_party()
    options = generate_registration_options(
        rp_id=party.id,
        rp_name=party.name,
        user_id=user.id.bytes,  # the user handle: random, and no personal data
        user_name=user.email,
        user_display_name=user.username,
        challenge=await new_challenge(session, ceremony="registration", user_id=user.id),
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=exclude,
    )
    return options_to_json(options)


def _known_transports(transports: list[str]) -> list[AuthenticatorTransport]:
    known = {transport.value for transport in AuthenticatorTransport}
    return [AuthenticatorTransport(transport) for transport in transports if transport in known]


async def register_passkey(
    session: AsyncSession, *, user: User, credential: RegistrationCredential, name: str | None
) -> Passkey:
    """Verify the attestation and keep the credential. 400 for a stale challenge or a response
    that does not verify; the challenge is spent either way."""
    data = credential_json(credential)
    challenge = answered_challenge(data)
    if challenge is None or not await use_challenge(
        session, challenge=challenge, ceremony="registration", user_id=user.id
    ):
        raise PasskeyChallengeInvalid()
    await commit_now(session)  # used, whatever the verification finds
    party = relying_party()
    try:
        verified = verify_registration_response(
            credential=data,
            expected_challenge=challenge,
            expected_rp_id=party.id,
            expected_origin=party.origins,
            require_user_verification=True,
        )
    except MALFORMED as exc:
        log_event("passkey_registration_failure", user_id=user.id, reason=str(exc)[:200])
        raise PasskeyRejected(f"The passkey could not be verified: {str(exc)[:200]}") from None
    locked = await lock_unchanged(session, user)
    if locked is None or not locked.is_active:
        raise TokenRevoked()  # the session ended while the passkey was being made
    transports = sorted({transport.value for transport in credential_transports(credential)})
    row = {
        "id": uuid.uuid4(),
        "user_id": locked.id,
        "credential_id": verified.credential_id,
        "public_key": verified.credential_public_key,
        "sign_count": verified.sign_count,
        "transports": transports,
        "backed_up": verified.credential_backed_up,
        "name": name or DEFAULT_NAME,
        "created_at": utcnow(),  # to the microsecond on SQLite too, which orders the list
    }
    insert = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
    table = StoredPasskey.__table__  # type: ignore[attr-defined]
    added = await session.execute(
        insert(table).values(**row).on_conflict_do_nothing(index_elements=["credential_id"]).returning(table.c.id)
    )
    if added.first() is None:
        raise PasskeyRejected("This passkey is already registered")
    send_passkey_notice(session, user=locked, change="added")
    await record_event(session, type=SecurityEventType.PASSKEY_ADDED, user_id=locked.id)
    log_event("passkey_added", user_id=locked.id, passkey_id=row["id"])
    stored = await session.get(StoredPasskey, row["id"])
    return Passkey.model_validate(stored)


def credential_transports(credential: RegistrationCredential) -> list[AuthenticatorTransport]:
    return _known_transports(credential.response.transports or [])
