from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class UserPublic(BaseModel):
    """What any client may see of an account: never a hash or a token."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    username: str
    first_name: str | None
    last_name: str | None
    full_name: str | None
    role: str
    is_active: bool
    is_verified: bool
    background_questionnaire: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
