from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from lib.validation import Text

Code = Annotated[Text, Field(min_length=1, max_length=64, description="A 6-digit TOTP code or a recovery code")]
Password = Annotated[Text, Field(min_length=1, max_length=1024)]


class MfaLoginRequest(BaseModel):
    mfa_token: str = Field(min_length=1, max_length=8192)
    code: Code


class EnrolmentRequest(BaseModel):
    password: Password


class ConfirmRequest(BaseModel):
    code: Code


class PasswordAndCode(BaseModel):
    password: Password
    code: Code


class Enrolment(BaseModel):
    """A started enrolment: the secret to type in, or the URI and its QR code to scan."""

    secret: str
    otpauth_uri: str
    qr_svg: str


class RecoveryCodes(BaseModel):
    """Single-use codes that stand in for the authenticator; shown this once."""

    recovery_codes: list[str]
