"""Creating accounts."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib.accounts.schemas import UserCreate
from lib.accounts.verification import send_verification_email
from lib.config import get_settings
from lib.email.outbox import publish_in_any_case, queue_email
from lib.errors import Conflict, EmailTaken, UsernameTaken
from lib.events.record import record_event
from lib.models import EmailKind, SecurityEventType, User
from lib.security.passwords import hash_password
from lib.security.throttle import address_limits, reserve_attempt
from lib.sessions.schemas import ClientInfo, TokenPair
from lib.sessions.start import start_session


def _taken(email_taken: bool) -> Conflict:
    return EmailTaken() if email_taken else UsernameTaken()


async def create_user(session: AsyncSession, *, data: UserCreate, role: str = "user") -> User:
    """Insert a user; 409 when the email or username (in any letter case) is taken.

    The unique indexes are the real guard: of concurrent sign-ups with one email,
    the database lets exactly one insert through.
    """
    existing = (
        await session.execute(
            select(col(User.email)).where(
                or_(col(User.email) == data.email, func.lower(User.username) == data.username.lower())
            )
        )
    ).first()
    if existing is not None:
        raise _taken(existing.email == data.email)
    user = User(
        email=data.email,
        username=data.username,
        hashed_password=await hash_password(data.password),
        first_name=data.first_name,
        last_name=data.last_name,
        role=role,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        message = str(exc.orig).lower()
        raise _taken("email" in message and "username" not in message) from None
    return user


async def register(session: AsyncSession, *, data: UserCreate, client: ClientInfo) -> TokenPair | None:
    """Create the account, email it a verification link, and sign it in.

    With `REQUIRE_VERIFIED_EMAIL` no one is signed in (None): the answer is the same for a
    new address and a registered one, whose owner gets a notice instead of a link. An email
    that cannot be sent is logged and does not fail the sign-up: the user can ask again.
    Each client address may sign up `SIGNUP_MAX_PER_IP` times per `ADDRESS_LIMIT_WINDOW_SECONDS`.
    """
    settings = get_settings()
    await reserve_attempt(
        session,
        address_limits("sign-up", ip_address=client.ip_address, limit=settings.SIGNUP_MAX_PER_IP),
        message="Too many sign-ups from this address; try again later",
    )
    if not settings.REQUIRE_VERIFIED_EMAIL:
        user = await create_user(session, data=data)
        send_verification_email(session, user=user)
        return await start_session(session, user=user, client=client, event=SecurityEventType.SIGN_UP)
    publish_in_any_case(session)  # on a queue, the same work whether or not the owner gets an email
    owner = (await session.execute(select(User).where(col(User.email) == data.email))).scalar_one_or_none()
    if owner is None:
        user = await create_user(session, data=data)
        send_verification_email(session, user=user)
        await record_event(session, type=SecurityEventType.SIGN_UP, user_id=user.id)
        return None
    await hash_password(data.password)  # as long as creating an account takes
    if owner.is_active:
        subject = f"Sign-up attempt at {settings.APP_NAME}"
        queue_email(session, kind=EmailKind.ACCOUNT_EXISTS, user=owner, subject=subject)
    return None
