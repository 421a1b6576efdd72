from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, EmailStr, Field, StringConstraints, ValidationInfo, field_validator

from lib.security.password_policy import check_password

Username = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_.\-]{3,50}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]


class UserCreate(BaseModel):
    email: EmailStr = Field(max_length=320)
    username: Username
    password: str
    first_name: Name | None = None
    last_name: Name | None = None

    @field_validator("email")
    @classmethod
    def _lower_email(cls, value: str) -> str:
        return value.lower()

    @field_validator("password")
    @classmethod
    def _password_policy(cls, value: str, info: ValidationInfo) -> str:
        return check_password(value, email=info.data.get("email"), username=info.data.get("username"))
