"""One command's transaction: driver-level statements on the hot path, the ORM on demand.

A chat command runs a handful of small statements. Through SQLAlchemy's async ORM each costs
100-200 µs of Python; the same statement on the driver costs a few microseconds on SQLite. So
the steps every command takes (de-duplication, group, roster, roles, the common risk commands,
the outbox) run as plain SQL on the transaction's connection, and an ORM session is made on
that same connection only when a handler asks for ``tx.session``. Both see each other's
writes: they share one connection and one transaction.

SQL is written once with ``?`` placeholders; for asyncpg they become ``$1, $2, …``. Values are
stored exactly as SQLAlchemy stores them (see :func:`when` and :func:`json_text`), so ORM code
reads rows written here and the other way round.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

Row = Sequence[Any]


class Driver(Protocol):
    sqlite: bool

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Row]: ...

    async def execute(self, sql: str, params: Sequence[Any]) -> int: ...

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


class _SqliteDriver:
    sqlite = True

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Row]:
        return self.connection.execute(sql, params).fetchall()

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        return self.connection.execute(sql, params).rowcount

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.connection.executemany(sql, rows)


class _AsyncpgDriver:
    sqlite = False

    def __init__(self, connection: Any) -> None:
        self.connection = connection  # asyncpg.Connection, as SQLAlchemy's dialect set it up

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Row]:
        return list(await self.connection.fetch(_numbered(sql), *params))

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        status: str = await self.connection.execute(_numbered(sql), *params)
        count = status.rsplit(" ", 1)[-1]  # "INSERT 0 1", "UPDATE 2"
        return int(count) if count.isdigit() else 0

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.connection.executemany(_numbered(sql), rows)


@functools.cache
def _numbered(sql: str) -> str:
    """``?`` placeholders to asyncpg's ``$n`` (our statements hold no literal question marks)."""
    counter = iter(range(1, sql.count("?") + 1))
    return re.sub(r"\?", lambda _m: f"${next(counter)}", sql)


async def driver_of(connection: AsyncConnection) -> Driver:
    """The driver-level handle of ``connection``, inside its transaction (see :meth:`Tx.begin`)."""
    driver_connection = (await connection.get_raw_connection()).driver_connection
    if connection.dialect.name == "sqlite":
        return _SqliteDriver(driver_connection.sqlite_connection)  # type: ignore[union-attr]
    assert connection.in_transaction()
    if not driver_connection.is_in_transaction():  # type: ignore[union-attr]
        # SQLAlchemy's asyncpg adapter opens the transaction at its first statement; plain
        # statements before that would each commit on their own.
        await connection.exec_driver_sql("SELECT 1")
    return _AsyncpgDriver(driver_connection)


class Tx:
    """The unit of work a command runs in; see the module docstring."""

    def __init__(self, connection: AsyncConnection, driver: Driver, session: AsyncSession | None = None) -> None:
        self._connection = connection
        self.driver = driver
        self._session = session
        self._owns_session = session is None
        self.info: dict[str, Any] = {}  # per-transaction caches of the hot path (roster, admins)

    @classmethod
    async def begin(cls, connection: AsyncConnection, driver: Driver | None = None) -> Tx:
        """Start a transaction on ``connection``; ``driver`` is its handle if already known."""
        if connection.dialect.name != "sqlite":
            # Through SQLAlchemy's adapter, so that a session made later on this connection joins it.
            await connection.begin()
        driver = driver or await driver_of(connection)
        if driver.sqlite:
            # BEGIN IMMEDIATE on the driver: SQLAlchemy's own begin would cost more than the command.
            await driver.execute("BEGIN IMMEDIATE", ())
        return cls(connection, driver)

    @classmethod
    async def over(cls, session: AsyncSession) -> Tx:
        """The hot-path statements inside a transaction that an ORM session already runs."""
        connection = await session.connection()
        return cls(connection, await driver_of(connection), session)

    @property
    def sqlite(self) -> bool:
        return self.driver.sqlite

    @property
    def session(self) -> AsyncSession:
        """An ORM session in this same transaction, made on first use."""
        if self._session is None:
            self._session = AsyncSession(bind=self._connection, expire_on_commit=False)
        return self._session

    @property
    def session_if_open(self) -> AsyncSession | None:
        """The ORM session if one was made; None otherwise (no session is made by asking)."""
        return self._session

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        await self._flush_orm()
        return await self.driver.fetch(sql, params)

    async def fetchrow(self, sql: str, *params: Any) -> Row | None:
        rows = await self.fetch(sql, *params)
        return rows[0] if rows else None

    async def execute(self, sql: str, *params: Any, sees_orm: bool = True) -> int:
        """Run a statement; the number of rows it changed.

        ``sees_orm=False``: the statement does not depend on rows the ORM session may hold
        unflushed (an insert into a table the session does not write), so no flush is forced.
        """
        if sees_orm:
            await self._flush_orm()
        return await self.driver.execute(sql, params)

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run a statement once per row of parameters (on SQLite: one prepared statement, in C)."""
        if rows:
            await self._flush_orm()
            await self.driver.execute_many(sql, rows)

    async def _flush_orm(self) -> None:
        # ORM changes not yet flushed would be invisible to plain SQL in the same transaction.
        session = self._session
        if session is not None and (session.new or session.dirty or session.deleted):
            await session.flush()

    # -- values, stored as SQLAlchemy stores them ------------------------------------------------

    def when(self, moment: datetime | None) -> Any:
        if moment is None:
            return None
        if moment.tzinfo is None:
            raise ValueError("naive datetime written to the database")
        if self.sqlite:  # SQLAlchemy's format, "YYYY-MM-DD HH:MM:SS.ffffff", naive UTC
            return (moment if moment.tzinfo is UTC else moment.astimezone(UTC)).isoformat(" ", "microseconds")[:26]
        return moment

    @staticmethod
    def moment(value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite: naive UTC text; parsing it with the zone is the quick way
            return datetime.fromisoformat(value + "+00:00")
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @staticmethod
    def json_text(value: Any) -> str:
        return json.dumps(value)

    @staticmethod
    def json_value(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    # -- ending --------------------------------------------------------------------------------

    async def commit(self) -> None:
        if self._session is not None:
            # On SQLite the session owns SQLAlchemy's transaction and commits the connection; on
            # PostgreSQL it joined ours and only flushes.
            await self._session.commit()
        if self._connection.in_transaction():
            await self._connection.commit()
        elif self.sqlite:
            await self._end("COMMIT")

    async def rollback(self) -> None:
        if self._session is not None:
            await self._session.rollback()
        if self._connection.in_transaction():
            await self._connection.rollback()
        elif self.sqlite:
            await self._end("ROLLBACK")

    async def _end(self, statement: str) -> None:
        driver = self.driver
        assert isinstance(driver, _SqliteDriver)
        if driver.connection.in_transaction:
            driver.connection.execute(statement)

    async def close(self) -> None:
        """Close the session this transaction made, if any; the connection is the caller's."""
        if self._session is not None and self._owns_session:
            await self._session.close()
