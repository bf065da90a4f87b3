"""Engine and transactions for SQLite (default, embedded) and PostgreSQL (production)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.storage import models as _models  # noqa: F401  (registers the tables)
from hubao.storage.sqlite_inline import inline_creator
from hubao.storage.tx import Driver, Tx

log = logging.getLogger("hubao.storage")


def normalise_url(url: str) -> str:
    """Accept plain ``sqlite:///`` and ``postgresql://`` URLs and pick the async drivers."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


WAL_BACKSTOP_PAGES = 20_000


class Database:
    """One engine; :meth:`transaction` yields a session whose work commits or rolls back whole."""

    def __init__(self, url: str, *, echo: bool = False, application_name: str = "") -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        parsed = make_url(self.url)
        if self.is_sqlite:
            kwargs["async_creator"] = inline_creator(parsed.database or ":memory:")
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
            settings: dict[str, str] = {}
            # "?schema=NAME" keeps HuBao's tables in that PostgreSQL schema instead of "public".
            schema = parsed.query.get("schema")
            if isinstance(schema, str) and schema:
                parsed = parsed.difference_update_query(["schema"])
                settings["search_path"] = schema
            if application_name:  # which instance a session is, in pg_stat_activity (63 bytes at most)
                settings["application_name"] = application_name.encode()[:63].decode(errors="ignore")
            if settings:
                kwargs["connect_args"] = {"server_settings": settings}
        self.engine: AsyncEngine = create_async_engine(parsed, **kwargs)
        # SQLite allows one writer at a time; serialising our own transactions avoids
        # "database is locked" between coroutines of this process.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._kept: tuple[AsyncConnection, Driver] | None = None
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
            connection, driver = await self._command_connection()
            try:
                tx = await Tx.begin(connection, driver)
            except BaseException:
                await self._release(connection, broken=True)
                raise
            if self.is_sqlite and self._kept is None:
                self._kept = (connection, tx.driver)
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

    async def _command_connection(self) -> tuple[AsyncConnection, Driver | None]:
        # SQLite: commands run one at a time (the write lock), so one connection serves them all
        # and the pool's check-out and reset are skipped. PostgreSQL: a connection per command.
        if self._kept is not None:
            return self._kept
        return await self.engine.connect(), None

    async def _release(self, connection: AsyncConnection, *, broken: bool) -> None:
        kept = self._kept is not None and connection is self._kept[0]
        if kept and not broken:
            return
        if kept:
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

    async def checkpoint_forever(self, every: float = 1.0) -> None:
        """SQLite: copy the write-ahead log into the database file off the event loop, until cancelled.

        A checkpoint writes and syncs many pages at once; left to SQLite it runs inside whichever
        commit crosses the threshold and stalls that command and all queued behind it. A PASSIVE
        checkpoint on its own connection and thread blocks neither writers nor readers.
        """
        path = make_url(self.url).database
        if not self.is_sqlite or not path or path == ":memory:":
            return
        connection = await asyncio.to_thread(sqlite3.connect, path, check_same_thread=False, timeout=30)
        try:
            while True:
                await asyncio.sleep(every)
                job = asyncio.ensure_future(asyncio.to_thread(_checkpoint, connection))
                try:
                    await asyncio.shield(job)
                except asyncio.CancelledError:
                    await job  # the pass in progress finishes before its connection closes
                    raise
        finally:
            connection.close()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        if self._kept is not None:
            (kept, _driver), self._kept = self._kept, None
            await kept.close()
        await self.engine.dispose()


def _checkpoint(connection: sqlite3.Connection) -> None:
    try:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error:
        log.warning("WAL checkpoint failed; commits will checkpoint themselves", exc_info=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # aiosqlite: let SQLAlchemy issue BEGIN itself so that it can be BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Commits copy the log into the database only if the background pass (checkpoint_forever)
    # falls behind by this many pages (~80 MB); normally they never pay for it.
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
    cursor.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # Take the write lock at BEGIN, so that two processes never deadlock upgrading read locks.
    # A command's transaction (storage/tx.py) began on the driver already; its session joins it.
    if not conn.connection.driver_connection.in_transaction:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
