"""`hubao db upgrade` builds the same schema as the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

from hubao.storage import migrate
from hubao.storage.db import Database


async def test_migrations_and_models_agree(any_db_url: str) -> None:
    db = Database(any_db_url)
    try:
        assert await migrate.current(db) is None
        await migrate.upgrade(db)
        assert await migrate.current(db) == migrate.head()
        assert await migrate.pending_differences(db) == []
        await migrate.upgrade(db)  # a second upgrade is a no-op
        assert await migrate.current(db) == migrate.head()
    finally:
        await db.dispose()


def test_db_upgrade_command_creates_the_schema(any_db_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hubao", "db", "upgrade", "--url", any_db_url],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"schema revision: {migrate.head()}" in result.stdout


async def test_an_app_starts_on_a_migrated_database(make_app: object, db_url: str) -> None:
    app = await make_app(**{"storage.auto_migrate": True})  # type: ignore[operator]
    assert await migrate.current(app.db) == migrate.head()
    group = await app.register_group("console", "demo", "g")
    assert group.id is not None


async def test_instances_starting_together_upgrade_once(any_db_url: str) -> None:
    import asyncio

    databases = [Database(any_db_url) for _ in range(4)]
    try:
        await asyncio.gather(*(migrate.upgrade(db) for db in databases))
        assert await migrate.current(databases[0]) == migrate.head()
        assert await migrate.pending_differences(databases[0]) == []
    finally:
        for db in databases:
            await db.dispose()
