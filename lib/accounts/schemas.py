from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, StringConstraints, ValidationInfo, field_validator

from lib.security.password_policy import NewPassword, check_password
from lib.validation import EmailAddress, Name, Text

Username = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_.\-]{3,50}$")]


class UserCreate(BaseModel):
    email: EmailAddress
    username: Username
    password: Text
    first_name: Name | None = None
    last_name: Name | None = None

    @field_validator("password")
    @classmethod
    def _password_policy(cls, value: str, info: ValidationInfo) -> str:
        return check_password(value, email=info.data.get("email"), username=info.data.get("username"))


EmailLinkToken = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class ForgotPasswordRequest(BaseModel):
    email: EmailAddress


class ResetPasswordRequest(BaseModel):
    token: EmailLinkToken
    new_password: NewPassword


class VerifyEmailRequest(BaseModel):
    token: EmailLinkToken


class Accepted(BaseModel):
    """The body of a 202: what happens next, in words."""

    detail: str


class VerificationRequired(BaseModel):
    """Sign-up's 202 when addresses must be verified first: the same for a new and a known address."""

    detail: str = "Check your inbox: follow the link we sent to finish signing up."
    code: str = "verification_required"


class ResendVerificationRequest(BaseModel):
    email: EmailAddress
