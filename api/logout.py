"""End every session of the signed-in user."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from mangum import Mangum

from lib.app import create_app
from lib.deps import CurrentUser, Session
from lib.oauth.transport import Transport, session_ended_response
from lib.sessions.login import end_all_sessions

router = APIRouter(tags=["auth"])


@router.post("/api/v1/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def logout(session: Session, user: CurrentUser, transport: Transport) -> Response:
    """Log out: revoke all refresh tokens; earlier access tokens stop working; the refresh cookie is cleared."""
    await end_all_sessions(session, user_id=user.id)
    return session_ended_response(transport, status.HTTP_204_NO_CONTENT)


app = create_app(router)
handler = Mangum(app, lifespan="off")
