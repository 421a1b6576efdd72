"""What py_webauthn needs from our settings, and reading the challenge a credential answers.

py_webauthn parses and verifies (CBOR, COSE keys, attestation formats, signatures); nothing
here decodes any of it by hand.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any

from webauthn.helpers import base64url_to_bytes, parse_client_data_json
from webauthn.helpers.exceptions import WebAuthnException

from lib.config import get_settings
from lib.passkeys.challenges import CHALLENGE_LIFETIME_SECONDS

# What a hostile credential can make py_webauthn's parsers raise besides their own errors.
MALFORMED = (WebAuthnException, ValueError, TypeError, KeyError, binascii.Error, RecursionError, OverflowError)
TIMEOUT_MS = CHALLENGE_LIFETIME_SECONDS * 1000


@dataclass(frozen=True)
class RelyingParty:
    id: str
    name: str
    origins: list[str]


def relying_party() -> RelyingParty:
    settings = get_settings()
    return RelyingParty(
        id=settings.WEBAUTHN_RP_ID or "", name=settings.WEBAUTHN_RP_NAME or "", origins=settings.WEBAUTHN_ORIGINS
    )


def answered_challenge(credential: dict[str, Any]) -> bytes | None:
    """The challenge inside the credential's `clientDataJSON`, or None when it cannot be read."""
    try:
        client_data = parse_client_data_json(base64url_to_bytes(credential["response"]["clientDataJSON"]))
    except MALFORMED:
        return None
    return client_data.challenge or None
