"""Schema migrations with Alembic, driven from Python (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from hubao.storage.db import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Any = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


# Any constant shared by all instances: PostgreSQL advisory-lock key of schema upgrades.
UPGRADE_LOCK = 0x4855_4241_4F00  # "HUBAO"


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the database to ``revision`` (creates it from nothing on a new database).

    On PostgreSQL, instances starting together take turns: the upgrade runs under a
    transaction-scoped advisory lock, so the second one finds the schema already current.
    """
    async with db.engine.begin() as conn:
        if not db.is_sqlite:
            await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({UPGRADE_LOCK})")
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def current(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def pending_differences(db: Database) -> list[Any]:
    """What the models have that the migrated database lacks (empty when they agree)."""
    async with db.engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}),
                                          SQLModel.metadata)
        )


async def make_revision(db: Database, message: str) -> None:
    """Autogenerate a new revision from the models against a database at head (developer tool)."""
    async with db.engine.begin() as conn:
        await conn.run_sync(
            lambda sync: command.revision(alembic_config(sync), message=message, autogenerate=True)
        )
