from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from lib.validation import Text

if TYPE_CHECKING:
    from lib.sessions.tokens import TokenPair


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int

    @classmethod
    def from_pair(cls, pair: TokenPair) -> TokenResponse:
        return cls(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=8192)


class LoginRequest(BaseModel):
    username: Text = Field(min_length=1, max_length=320)
    password: Text = Field(min_length=1, max_length=1024)


class RevocationRequest(BaseModel):
    """RFC 7009 2.1; a token of any length is accepted here and refused, silently, by its check."""

    token: str = Field(min_length=1)
    token_type_hint: str | None = Field(default=None, max_length=64)
