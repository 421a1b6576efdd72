"""User administration: admins may do everything, moderators may read."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from mangum import Mangum

from lib.app import create_app
from lib.deps import AdminUser, Session, StaffUser
from lib.errors import LastAdmin, NotFound
from lib.openapi import raises
from lib.passkeys import manage as passkeys
from lib.users import admin, rows
from lib.users.schemas import AdminUserUpdate, UserListQuery, UserPage, UserPublic

router = APIRouter(tags=["admin"])


@router.get("/api/v1/admin/users", response_model=UserPage)
async def list_users(session: Session, _: StaffUser, query: Annotated[UserListQuery, Query()]) -> UserPage:
    """List users, oldest first, optionally only those whose email or username contains `q`."""
    return await admin.list_users(session, query=query)


@router.get("/api/v1/admin/users/{user_id}", response_model=UserPublic)
@raises(NotFound)
async def read_user(session: Session, _: StaffUser, user_id: uuid.UUID) -> UserPublic:
    """One user's account."""
    return UserPublic.model_validate(await rows.get_user(session, user_id=user_id))


@router.patch("/api/v1/admin/users/{user_id}", response_model=UserPublic)
@raises(NotFound, LastAdmin)
async def update_user(session: Session, me: AdminUser, user_id: uuid.UUID, data: AdminUserUpdate) -> UserPublic:
    """Change role, active and verified flags; demotion and deactivation end the user's sessions."""
    return UserPublic.model_validate(await admin.update_user(session, user_id=user_id, data=data, actor_id=me.id))


@router.delete("/api/v1/admin/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
@raises(NotFound, LastAdmin)
async def delete_user(session: Session, me: AdminUser, user_id: uuid.UUID) -> None:
    """Delete the account with its sessions and tokens."""
    await admin.delete_user(session, user_id=user_id, actor_id=me.id)


@router.delete(
    "/api/v1/admin/users/{user_id}/passkeys", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
@raises(NotFound)
async def delete_user_passkeys(session: Session, admin_user: AdminUser, user_id: uuid.UUID) -> None:
    """Remove every passkey of the user (a lost or stolen device) and end the user's sessions."""
    await passkeys.delete_user_passkeys(session, user_id=user_id, admin_id=admin_user.id)


app = create_app(router)
handler = Mangum(app, lifespan="off")
