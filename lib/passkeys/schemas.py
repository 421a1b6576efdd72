"""What the passkey endpoints take and answer: the browser's credential JSON (WebAuthn Level 3
`RegistrationResponseJSON` and `AuthenticationResponseJSON`), and a stored passkey."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from lib.validation import Text, plain_name

Base64Url = Annotated[str, Field(min_length=1, max_length=16384, pattern=r"^[A-Za-z0-9_-]+={0,2}$")]
PasskeyName = Annotated[Text, BeforeValidator(plain_name), Field(min_length=1, max_length=64)]


class _CredentialPart(BaseModel):
    # Members the browser adds that are not read here (clientExtensionResults, publicKey, ...) are let through.
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class AttestationResponse(_CredentialPart):
    client_data_json: Base64Url = Field(alias="clientDataJSON")
    attestation_object: Base64Url = Field(alias="attestationObject")
    transports: list[Annotated[str, Field(max_length=32)]] | None = Field(default=None, max_length=16)


class AssertionResponse(_CredentialPart):
    client_data_json: Base64Url = Field(alias="clientDataJSON")
    authenticator_data: Base64Url = Field(alias="authenticatorData")
    signature: Base64Url
    user_handle: Base64Url | None = Field(default=None, alias="userHandle")


class RegistrationCredential(_CredentialPart):
    """What `navigator.credentials.create()` gave, as `PublicKeyCredential.toJSON()` writes it."""

    id: Base64Url
    raw_id: Base64Url = Field(alias="rawId")
    type: Literal["public-key"]
    response: AttestationResponse
    authenticator_attachment: str | None = Field(default=None, alias="authenticatorAttachment", max_length=32)


class AuthenticationCredential(_CredentialPart):
    """What `navigator.credentials.get()` gave, as `PublicKeyCredential.toJSON()` writes it."""

    id: Base64Url
    raw_id: Base64Url = Field(alias="rawId")
    type: Literal["public-key"]
    response: AssertionResponse
    authenticator_attachment: str | None = Field(default=None, alias="authenticatorAttachment", max_length=32)


def credential_json(credential: RegistrationCredential | AuthenticationCredential) -> dict[str, Any]:
    """The credential as the browser sent it, for py_webauthn's parsers."""
    return credential.model_dump(by_alias=True, exclude_none=True)


class RegistrationRequest(BaseModel):
    credential: RegistrationCredential
    name: PasskeyName | None = None


class AuthenticationRequest(BaseModel):
    credential: AuthenticationCredential


class RenameRequest(BaseModel):
    name: PasskeyName


class Passkey(BaseModel):
    """A passkey of the signed-in user. `backed_up`: synced to the user's other devices."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    transports: list[str]
    backed_up: bool


# The options endpoints answer py_webauthn's JSON as it is, not a model.
OPTIONS_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The options as py_webauthn's `options_to_json` writes them (no `publicKey` wrapper)",
        "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
    }
}
