"""The signed-in user's profile."""

from __future__ import annotations

from fastapi import APIRouter
from mangum import Mangum

from lib.app import create_app
from lib.deps import CurrentUser
from lib.users.schemas import UserPublic

router = APIRouter(tags=["user"])


@router.get("/api/v1/user/me", response_model=UserPublic)
async def read_me(user: CurrentUser) -> UserPublic:
    """The signed-in user's profile."""
    return UserPublic.model_validate(user)


app = create_app(router)
handler = Mangum(app, lifespan="off")
