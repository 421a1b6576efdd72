"""The signed-in user's sessions: list them, end one."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status
from mangum import Mangum

from lib.app import create_app
from lib.deps import CurrentPrincipal, Session
from lib.errors import NotFound
from lib.openapi import raises
from lib.sessions import manage as sessions
from lib.sessions.schemas import SessionPublic

router = APIRouter(tags=["user"])


@router.get("/api/v1/user/me/sessions", response_model=list[SessionPublic])
async def list_sessions(session: Session, principal: CurrentPrincipal) -> list[SessionPublic]:
    """Live sessions (one per sign-in); `current` marks the one making this request."""
    return await sessions.list_sessions(session, user_id=principal.user.id, current_session_id=principal.session_id)


@router.delete("/api/v1/user/me/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
@raises(NotFound)
async def end_session(session: Session, principal: CurrentPrincipal, session_id: uuid.UUID) -> None:
    """End one session: its refresh token and access tokens stop working."""
    await sessions.end_session(session, user_id=principal.user.id, session_id=session_id)


app = create_app(router)
handler = Mangum(app, lifespan="off")
