"""Signing in with a passkey, no username needed: request options, then the assertion."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from mangum import Mangum

from lib.app import create_app
from lib.deps import Client, Session
from lib.errors import EmailNotVerified, InvalidPasskey, TooManyRequests
from lib.oauth.transport import Transport
from lib.openapi import raises
from lib.passkeys.authentication import authentication_options, sign_in_with_passkey
from lib.passkeys.schemas import OPTIONS_RESPONSE, AuthenticationRequest
from lib.sessions.schemas import TokenResponse


def _json(options: str) -> Response:
    return Response(content=options, media_type="application/json", headers={"Cache-Control": "no-store"})


router = APIRouter(tags=["auth"])


@router.post("/api/v1/login/passkey/options", response_class=Response, responses=OPTIONS_RESPONSE)
@raises(TooManyRequests)
async def passkey_request_options(session: Session, client: Client) -> Response:
    """Options for `navigator.credentials.get()`: any passkey of this site, with user verification."""
    return _json(await authentication_options(session, client=client))


@router.post("/api/v1/login/passkey", response_model=TokenResponse)
@raises(InvalidPasskey, EmailNotVerified, TooManyRequests)
async def login_passkey(
    session: Session, data: AuthenticationRequest, client: Client, transport: Transport
) -> TokenResponse | JSONResponse:
    """Exchange a passkey's assertion for a token pair (`amr` ["hwk", "mfa"]: no second step)."""
    pair = await sign_in_with_passkey(session, credential=data.credential, client=client)
    return transport.respond(pair)


app = create_app(router)
handler = Mangum(app, lifespan="off")
