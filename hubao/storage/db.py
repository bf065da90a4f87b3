"""Engine and transactions for SQLite (default, embedded) and PostgreSQL (production)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.storage import models as _models  # noqa: F401  (registers the tables)
from hubao.storage.sqlite_inline import inline_creator
from hubao.storage.tx import Tx


def normalise_url(url: str) -> str:
    """Accept plain ``sqlite:///`` and ``postgresql://`` URLs and pick the async drivers."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


class Database:
    """One engine; :meth:`transaction` yields a session whose work commits or rolls back whole."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        parsed = make_url(self.url)
        if self.is_sqlite:
            kwargs["async_creator"] = inline_creator(parsed.database or ":memory:")
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
            # "?schema=NAME" keeps HuBao's tables in that PostgreSQL schema instead of "public".
            schema = parsed.query.get("schema")
            if isinstance(schema, str) and schema:
                parsed = parsed.difference_update_query(["schema"])
                kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
        self.engine: AsyncEngine = create_async_engine(parsed, **kwargs)
        # SQLite allows one writer at a time; serialising our own transactions avoids
        # "database is locked" between coroutines of this process.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._kept: AsyncConnection | None = None
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin_immediate)

    async def create_schema(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        if self._write_lock is not None:
            async with self._write_lock, self._session() as session:
                yield session
        else:
            async with self._session() as session:
                yield session

    @asynccontextmanager
    async def command(self) -> AsyncIterator[Tx]:
        """A transaction for one command: plain SQL on the hot path, ``tx.session`` for the rest."""
        async with self._write_lock or contextlib.nullcontext():
            connection = await self._command_connection()
            try:
                tx = await Tx.begin(connection)
            except BaseException:
                await self._release(connection, broken=True)
                raise
            broken = False
            try:
                yield tx
                await tx.commit()
            except BaseException:
                broken = True
                await tx.rollback()
                raise
            finally:
                await tx.close()
                await self._release(connection, broken=broken)

    async def _command_connection(self) -> AsyncConnection:
        # SQLite: commands run one at a time (the write lock), so one connection serves them all
        # and the pool's check-out and reset are skipped. PostgreSQL: a connection per command.
        if not self.is_sqlite:
            return await self.engine.connect()
        if self._kept is None:
            self._kept = await self.engine.connect()
        return self._kept

    async def _release(self, connection: AsyncConnection, *, broken: bool) -> None:
        if connection is self._kept and not broken:
            return
        if connection is self._kept:
            self._kept = None  # a fresh one for the next command, whatever went wrong with this one
        await connection.close()

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        session = AsyncSession(self.engine, expire_on_commit=False)
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        finally:
            await session.close()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        if self._kept is not None:
            kept, self._kept = self._kept, None
            await kept.close()
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # aiosqlite: let SQLAlchemy issue BEGIN itself so that it can be BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # Take the write lock at BEGIN, so that two processes never deadlock upgrading read locks.
    # A command's transaction (storage/tx.py) began on the driver already; its session joins it.
    if not conn.connection.driver_connection.in_transaction:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
