"""The schema comes only from migrations, and they match the models."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from lib.db import get_engine
from lib.models import metadata
from tests.fixtures.database import alembic_config

# SQLite cannot reflect expression indexes (hence the filtered warnings); the second test
# checks the case-insensitive username index there by reading its SQL.


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "target_metadata": metadata})
    return list(compare_metadata(context, metadata))


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
async def test_models_and_migrations_do_not_drift() -> None:
    async with get_engine().connect() as connection:
        diff = await connection.run_sync(_diff)
    assert diff == []


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
async def test_migrated_schema_has_unique_email_and_case_insensitive_username() -> None:
    def indexes(connection: Connection) -> dict[str, bool]:
        return {index["name"]: bool(index["unique"]) for index in inspect(connection).get_indexes("users")}

    async with get_engine().connect() as connection:
        found = await connection.run_sync(indexes)
        if get_engine().dialect.name == "sqlite":
            sql = (
                await connection.execute(text("SELECT sql FROM sqlite_master WHERE name = 'uq_users_username_lower'"))
            ).scalar_one()
            assert "UNIQUE" in sql.upper()
            assert "lower(username)" in sql
        else:
            assert found["uq_users_username_lower"] is True
    assert found["ix_users_email"] is True


def _username_index_sql(connection: Connection) -> str | None:
    if connection.dialect.name == "sqlite":
        sql = connection.execute(text("SELECT sql FROM sqlite_master WHERE name = 'uq_users_username_lower'"))
        return sql.scalar_one_or_none()
    found = connection.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_users_username_lower'"))
    return found.scalar_one_or_none()


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
async def test_every_downgrade_keeps_the_case_insensitive_username_index() -> None:
    """SQLite rebuilds a table to drop a column, and that rebuild loses expression indexes unless
    the migration puts them back."""
    config = alembic_config()
    revisions = [script.revision for script in ScriptDirectory.from_config(config).walk_revisions()]
    try:
        for revision in revisions[1:]:  # newest first; each step down to the first revision
            await asyncio.to_thread(command.downgrade, config, revision)
            async with get_engine().connect() as connection:
                sql = await connection.run_sync(_username_index_sql)
            assert sql is not None, f"the index is gone at revision {revision}"
            assert "unique" in sql.lower()
            assert "lower(" in sql.lower()
            assert "username" in sql.lower()
    finally:
        await asyncio.to_thread(command.upgrade, config, "head")
