from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def check_database(session: AsyncSession) -> None:
    """Raises (and so answers 503) when the database cannot be reached."""
    await session.execute(text("SELECT 1"))
