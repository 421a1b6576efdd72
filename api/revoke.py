"""Token revocation (RFC 7009): end the session of a refresh or access token."""

from __future__ import annotations

from fastapi import APIRouter, Response
from mangum import Mangum

from lib.app import create_app
from lib.deps import Session
from lib.oauth.endpoint import TokenEndpointRoute
from lib.oauth.forms import REVOKE_OPENAPI, RevocationForm
from lib.oauth.transport import Transport, revocation_response
from lib.sessions.revocation import revoke_token

router = APIRouter(tags=["auth"], route_class=TokenEndpointRoute)


@router.post("/api/v1/revoke", status_code=200, response_class=Response, openapi_extra=REVOKE_OPENAPI)
async def revoke(session: Session, form: RevocationForm, transport: Transport) -> Response:
    """Revoke a token's session: 200 whether or not the token was known, valid or already revoked."""
    revoked = await revoke_token(session, token=form.token, token_type_hint=form.token_type_hint)
    return revocation_response(transport, revoked)


app = create_app(router)
handler = Mangum(app, lifespan="off")
