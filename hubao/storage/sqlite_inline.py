"""An aiosqlite connection that runs SQLite calls on the event loop's own thread.

aiosqlite sends every call to a worker thread and waits for the answer. A SQLite statement in
WAL mode takes microseconds, while the hand-off (queue, thread wake-up, GIL switch, loop wake-up)
takes far longer and makes a command cost milliseconds. HuBao serialises its own SQLite writers
(one process owns the file), so a statement never waits on a lock here and can run inline.
SQLAlchemy's aiosqlite dialect keeps working unchanged on top of it (via ``async_creator``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Generator
from functools import partial
from typing import Any

import aiosqlite


class _RunNow:
    """Stands in for aiosqlite's queue to its worker thread: runs each call at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:
            if future is not None and not future.done():
                future.set_exception(exc)
        else:
            if future is not None and not future.done():
                future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunNow()  # type: ignore[assignment]

    @property
    def sqlite_connection(self) -> sqlite3.Connection:
        """The driver's connection itself, for statements that need no adaptation (storage/tx.py)."""
        return self._conn

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect().__await__()  # type: ignore[return-value]  # no worker thread to start


def inline_creator(path: str) -> Callable[[], Any]:
    """An ``async_creator`` for SQLAlchemy's ``create_async_engine`` on the file at ``path``."""

    async def create() -> InlineConnection:
        connection = InlineConnection(partial(sqlite3.connect, path, check_same_thread=False, timeout=30))
        return await connection

    return create
