"""SQLite upkeep: commits leave the write-ahead log to a background checkpoint."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path

from hubao.storage import records
from hubao.storage.db import Database

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def _size(path: Path) -> int:
    return path.stat().st_size


async def test_commits_leave_the_log_to_the_background_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "hubao.db"
    db = Database(f"sqlite:///{path}")
    await db.create_schema()
    size_with_schema = _size(path)
    for i in range(300):
        async with db.command() as tx:
            await records.record_delivery(tx, f"feishu:evt_{i}:" + "x" * 150, NOW)
    # The commits went to the log only: no command paid for copying it into the database.
    assert _size(path) == size_with_schema
    assert _size(Path(f"{path}-wal")) > 0

    upkeep = asyncio.create_task(db.checkpoint_forever(every=0.01))
    try:
        async with asyncio.timeout(10):
            # The copy is made by a thread into the file; there is no event to wait on.
            while _size(path) == size_with_schema:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    finally:
        upkeep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await upkeep
    assert _size(path) > size_with_schema
    async with db.command() as tx:  # everything is still there, and writing goes on
        assert not await records.record_delivery(tx, "feishu:evt_299:" + "x" * 150, NOW)
    await db.dispose()


async def test_an_in_memory_database_has_no_checkpoint_task() -> None:
    memory = Database("sqlite:///:memory:")
    await asyncio.wait_for(memory.checkpoint_forever(every=0.01), 1)  # returns at once
    await memory.dispose()
