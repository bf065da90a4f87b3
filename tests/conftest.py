from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hubao.app import App
from hubao.bot.clock import ManualClock
from hubao.console import ConsoleSession
from hubao.storage.db import Database
from tests.harness import config_for, fresh_database, postgres_url


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_pg = pytest.mark.skip(reason="set HUBAO_TEST_DATABASE_URL to run on PostgreSQL")
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("database_kind") == "postgres" and not postgres_url():
            item.add_marker(skip_pg)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["sqlite", "postgres"])
def database_kind(request: pytest.FixtureRequest) -> str:
    """Every test that touches storage runs on SQLite and, when configured, on PostgreSQL."""
    return str(request.param)


@pytest.fixture
async def db_url(database_kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database of the test's kind."""
    async with fresh_database(database_kind, tmp_path) as url:
        yield url


@pytest.fixture
async def any_db_url(db_url: str) -> str:
    return db_url


@pytest.fixture
async def db(any_db_url: str) -> AsyncIterator[Database]:
    """A :class:`Database` on a fresh database of the test's kind, with the schema made."""
    database = Database(any_db_url)
    await database.create_schema()
    yield database
    await database.dispose()


@pytest.fixture
async def make_app(db_url: str, clock: ManualClock) -> AsyncIterator[Any]:
    """Build started Apps on the test database: ``await make_app(**{"feishu.enabled": True, ...})``."""
    apps: list[App] = []

    async def build(*, adapters: dict[str, Any] | None = None, url: str | None = None, **overrides: Any) -> App:
        app = App(config_for(url or db_url, **overrides), clock=clock, adapters=adapters,
                  instance_id=f"test-{len(apps)}")
        await app.start()
        apps.append(app)
        return app

    yield build
    for app in apps:
        await app.close()


@pytest.fixture
async def make_console(db_url: str, clock: ManualClock) -> AsyncIterator[Any]:
    """``await make_console(admins=["root"], **overrides)`` → a ConsoleSession."""
    sessions: list[ConsoleSession] = []

    async def build(*, admins: tuple[str, ...] = (), url: str | None = None, **overrides: Any) -> ConsoleSession:
        overrides.setdefault("bot.admins", [f"console:{name}" for name in admins])
        session = await ConsoleSession.open(config_for(url or db_url, **overrides), clock)
        sessions.append(session)
        return session

    yield build
    for session in sessions:
        await session.close()


@pytest.fixture
async def console(make_console: Any) -> ConsoleSession:
    return await make_console(admins=("root",))
