"""The peer: fastapi-users' full example app (SQLAlchemy adapter, Bearer transport, JWT strategy),
as its documentation writes it, with what a deployment beside ours changes:

- the database is ours (PostgreSQL behind PgBouncer in transaction mode, through asyncpg), with
  the engine settings SQLAlchemy's documentation gives for PgBouncer (no pool, no statement
  cache, a unique name for each prepared statement);
- passwords are hashed with Argon2id through pwdlib with our parameters (the documentation's
  "customize the password hash" recipe);
- tokens are RS256 with our key size (the documentation's RS256 recipe), as ours are;
- a Mangum handler, as each of our functions has.

Runs only in the peer's venv (see requirements.txt); configured by the environment the benchmark
sets: PEER_DATABASE_URL, RSA_PRIVATE_KEY_CONTENT and PASSWORD_ARGON2_*.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncGenerator

from cryptography.hazmat.primitives import serialization
from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users.db import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from fastapi_users.password import PasswordHelper
from mangum import Mangum
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool

DATABASE_URL = os.environ["PEER_DATABASE_URL"]
SECRET = os.environ.get("PEER_SECRET", "bench-peer-secret")
PRIVATE_KEY = base64.b64decode(os.environ["RSA_PRIVATE_KEY_CONTENT"]).decode("ascii")
PUBLIC_KEY = (
    serialization.load_pem_private_key(PRIVATE_KEY.encode("ascii"), password=None)
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode("ascii")
)


# --- db.py ---


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    pass


engine = create_async_engine(
    DATABASE_URL,
    poolclass=NullPool,
    connect_args={
        "statement_cache_size": 0,
        "prepared_statement_name_func": lambda: f"__asyncpg_{uuid.uuid4()}__",
    },
)
async_session_maker = async_sessionmaker(engine, expire_on_commit=False)


async def create_db_and_tables() -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


async def get_async_session() -> AsyncGenerator[AsyncSession, None]:
    async with async_session_maker() as session:
        yield session


async def get_user_db(
    session: AsyncSession = Depends(get_async_session),
) -> AsyncGenerator[SQLAlchemyUserDatabase, None]:
    yield SQLAlchemyUserDatabase(session, User)


# --- schemas.py ---


class UserRead(schemas.BaseUser[uuid.UUID]):
    pass


class UserCreate(schemas.BaseUserCreate):
    pass


class UserUpdate(schemas.BaseUserUpdate):
    pass


# --- users.py ---

password_helper = PasswordHelper(
    PasswordHash(
        (
            Argon2Hasher(
                time_cost=int(os.environ["PASSWORD_ARGON2_TIME_COST"]),
                memory_cost=int(os.environ["PASSWORD_ARGON2_MEMORY_COST"]),
                parallelism=int(os.environ["PASSWORD_ARGON2_PARALLELISM"]),
            ),
        )
    )
)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


async def get_user_manager(user_db: SQLAlchemyUserDatabase = Depends(get_user_db)) -> AsyncGenerator[UserManager, None]:
    yield UserManager(user_db, password_helper)


bearer_transport = BearerTransport(tokenUrl="auth/jwt/login")


def get_jwt_strategy() -> JWTStrategy:
    return JWTStrategy(secret=PRIVATE_KEY, lifetime_seconds=3600, algorithm="RS256", public_key=PUBLIC_KEY)


auth_backend = AuthenticationBackend(name="jwt", transport=bearer_transport, get_strategy=get_jwt_strategy)
fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [auth_backend])
current_active_user = fastapi_users.current_user(active=True)


# --- app.py ---

app = FastAPI()
app.include_router(fastapi_users.get_auth_router(auth_backend), prefix="/auth/jwt", tags=["auth"])
app.include_router(fastapi_users.get_register_router(UserRead, UserCreate), prefix="/auth", tags=["auth"])
app.include_router(fastapi_users.get_reset_password_router(), prefix="/auth", tags=["auth"])
app.include_router(fastapi_users.get_verify_router(UserRead), prefix="/auth", tags=["auth"])
app.include_router(fastapi_users.get_users_router(UserRead, UserUpdate), prefix="/users", tags=["users"])
handler = Mangum(app, lifespan="off")
