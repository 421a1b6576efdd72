"""The signed-in user's passkeys: creation options, register, list, rename, remove."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status
from mangum import Mangum

from lib.app import create_app
from lib.deps import CurrentPrincipal, Session
from lib.errors import NotFound, PasskeyChallengeInvalid, PasskeyRejected, TokenRevoked
from lib.openapi import raises
from lib.passkeys import manage
from lib.passkeys.registration import register_passkey, registration_options
from lib.passkeys.schemas import OPTIONS_RESPONSE, Passkey, RegistrationRequest, RenameRequest


def _json(options: str) -> Response:
    return Response(content=options, media_type="application/json", headers={"Cache-Control": "no-store"})


router = APIRouter(tags=["passkeys"])


@router.post("/api/v1/user/me/passkeys/options", response_class=Response, responses=OPTIONS_RESPONSE)
async def passkey_creation_options(session: Session, me: CurrentPrincipal) -> Response:
    """Options for `navigator.credentials.create()` (a discoverable credential with user verification)."""
    return _json(await registration_options(session, user=me.user))


@router.post("/api/v1/user/me/passkeys", response_model=Passkey, status_code=status.HTTP_201_CREATED)
@raises(PasskeyChallengeInvalid, PasskeyRejected, TokenRevoked)
async def add_passkey(session: Session, me: CurrentPrincipal, data: RegistrationRequest) -> Passkey:
    """Verify the new credential (the answer to the creation options) and keep it as a passkey."""
    return await register_passkey(session, user=me.user, credential=data.credential, name=data.name)


@router.get("/api/v1/user/me/passkeys", response_model=list[Passkey])
async def list_passkeys(session: Session, me: CurrentPrincipal) -> list[Passkey]:
    """The passkeys that can sign in to this account, oldest first."""
    return await manage.list_passkeys(session, user_id=me.user.id)


@router.patch("/api/v1/user/me/passkeys/{passkey_id}", response_model=Passkey)
@raises(NotFound)
async def rename_passkey(session: Session, me: CurrentPrincipal, passkey_id: uuid.UUID, data: RenameRequest) -> Passkey:
    """Give a passkey a name the user recognises it by."""
    return await manage.rename_passkey(session, user_id=me.user.id, passkey_id=passkey_id, name=data.name)


@router.delete("/api/v1/user/me/passkeys/{passkey_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
@raises(NotFound)
async def delete_passkey(session: Session, me: CurrentPrincipal, passkey_id: uuid.UUID) -> None:
    """Remove a passkey: it can no longer sign in."""
    await manage.delete_passkey(session, user=me.user, passkey_id=passkey_id)


app = create_app(router)
handler = Mangum(app, lifespan="off")
