from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from lib.validation import Text


@dataclass(frozen=True)
class ClientInfo:
    user_agent: str | None = None
    ip_address: str | None = None
    # The OAuth 2.0 client the token request named (None: DEFAULT_CLIENT_ID).
    client_id: str | None = None


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: uuid.UUID
    refresh_expires_at: datetime


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


class SessionPublic(BaseModel):
    """One live sign-in (refresh-token family) of the user."""

    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None
    current: bool


class RevocationRequest(BaseModel):
    """RFC 7009 2.1; a token of any length is accepted here and refused, silently, by its check."""

    token: str = Field(min_length=1)
    token_type_hint: str | None = Field(default=None, max_length=64)
