"""The signed-in user's profile: read, change, deactivate."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from mangum import Mangum

from lib.app import create_app
from lib.deps import CurrentUser, Session
from lib.errors import LastAdmin
from lib.openapi import raises
from lib.users import profile
from lib.users.schemas import UserPublic, UserUpdate

router = APIRouter(tags=["user"])


@router.get("/api/v1/user/me", response_model=UserPublic)
async def get_me(user: CurrentUser) -> UserPublic:
    """The signed-in user's profile."""
    return UserPublic.model_validate(user)


@router.patch("/api/v1/user/me", response_model=UserPublic)
async def update_me(session: Session, user: CurrentUser, data: UserUpdate) -> UserPublic:
    """Change first and last name and the background questionnaire."""
    user = await profile.update_profile(session, user=user, data=data)
    return UserPublic.model_validate(user)


@router.delete("/api/v1/user/me", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
@raises(LastAdmin)
async def deactivate_me(session: Session, user: CurrentUser) -> None:
    """Deactivate the account: it can no longer log in and every session ends."""
    await profile.deactivate_account(session, user=user)


app = create_app(router)
handler = Mangum(app, lifespan="off")
