"""Alembic environment: async, on the same engine settings as the service."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from lib.config import get_settings
from lib.db import normalize_database_url, pgbouncer_safe
from lib.models import metadata

config = context.config


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render our UTC column type as the plain timezone-aware DateTime it stores."""
    if type_ == "type" and type(obj).__name__ == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection | None = None, **kwargs: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        compare_server_default=False,
        render_as_batch=True,
        render_item=_render_item,
        **kwargs,
    )


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async() -> None:
    url, connect_args = normalize_database_url(config.attributes.get("database_url") or get_settings().DATABASE_URL)
    if url.startswith("postgresql"):
        connect_args = pgbouncer_safe(connect_args)
    engine = create_async_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync)
    await engine.dispose()


if context.is_offline_mode():
    _configure(url=normalize_database_url(get_settings().DATABASE_URL)[0], literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_async())
