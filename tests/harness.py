"""Building real bots for tests: real SQLite/PostgreSQL, a manual clock, loopback HTTP.

``make_app`` gives a full :class:`App`; ``make_console`` a :class:`ConsoleSession` that
speaks the console protocol (``NAME: message`` in, ``bot:`` blocks out).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from hubao.app import App, read_config
from hubao.bot.config import Config
from hubao.console import ConsoleSession

PG_ENV = "HUBAO_TEST_DATABASE_URL"


def postgres_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@asynccontextmanager
async def fresh_database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """A new empty database of ``kind`` ('sqlite' or 'postgres'); dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / f'hubao-{uuid.uuid4().hex[:8]}.db'}"
        return
    import asyncpg

    base = postgres_url()
    assert base, "PostgreSQL tests need HUBAO_TEST_DATABASE_URL"
    plain = base.replace("postgresql+asyncpg://", "postgresql://")
    # A fresh schema per test is as isolated as a fresh database and far cheaper to make.
    name = f"hubao_t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(plain)
    try:
        await admin.execute(f'CREATE SCHEMA "{name}"')
    finally:
        await admin.close()
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base.replace('postgresql://', 'postgresql+asyncpg://')}{separator}schema={name}"
    finally:
        admin = await asyncpg.connect(plain)
        try:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await admin.close()


def config_for(db_url: str, **overrides: Any) -> Config:
    """A config with the kernel defaults, the given database, and dotted overrides."""
    # Tests build the schema from the models directly (fast); tests/storage/test_migrations.py
    # checks that the migrations produce the same schema.
    overrides.setdefault("storage.auto_migrate", False)
    return read_config(None, environ={}, overrides={"storage.url": db_url, **overrides})


MakeApp = Callable[..., Awaitable[App]]
MakeConsole = Callable[..., Awaitable[ConsoleSession]]


async def serve(app: App) -> TestServer:
    """The app's real HTTP server on a loopback port."""
    server = TestServer(app.web_app(), host="127.0.0.1")
    await server.start_server()
    return server
