"""Create an account."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from mangum import Mangum

from lib.accounts.schemas import UserCreate, VerificationRequired
from lib.accounts.signup import register
from lib.app import create_app
from lib.deps import Client, Session
from lib.errors import EmailTaken, TooManyRequests, UsernameTaken
from lib.oauth.transport import Transport
from lib.openapi import raises
from lib.sessions.schemas import TokenResponse

router = APIRouter(tags=["auth"])


@router.post(
    "/api/v1/sign-up",
    response_model=TokenResponse,
    status_code=status.HTTP_201_CREATED,
    responses={202: {"model": VerificationRequired, "description": "REQUIRE_VERIFIED_EMAIL: no tokens until verified"}},
)
@raises(EmailTaken, UsernameTaken, TooManyRequests)
async def sign_up(
    session: Session, data: UserCreate, client: Client, transport: Transport
) -> TokenResponse | JSONResponse:
    """Create an account and sign it in (or, when addresses must be verified first, email a link)."""
    pair = await register(session, data=data, client=client)
    if pair is None:
        return JSONResponse(VerificationRequired().model_dump(), status_code=status.HTTP_202_ACCEPTED)
    return transport.respond(pair)


app = create_app(router)
handler = Mangum(app, lifespan="off")
