"""Create an account."""

from __future__ import annotations

from fastapi import APIRouter, status
from mangum import Mangum

from lib.accounts import service
from lib.accounts.schemas import UserCreate
from lib.app import create_app
from lib.deps import Client, Session
from lib.sessions.schemas import TokenResponse

router = APIRouter(tags=["auth"])


@router.post("/api/v1/sign-up", response_model=TokenResponse, status_code=status.HTTP_201_CREATED)
async def sign_up(session: Session, data: UserCreate, client: Client) -> TokenResponse:
    """Create an account and sign it in."""
    pair = await service.sign_up(session, data=data, client=client)
    return TokenResponse.from_pair(pair)


app = create_app(router)
handler = Mangum(app, lifespan="off")
