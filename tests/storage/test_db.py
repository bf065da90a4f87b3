"""SQLite upkeep: commits leave the write-ahead log to a background checkpoint."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path

from hubao.storage import records
from hubao.storage.db import Database

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


async def test_commits_leave_the_log_to_the_background_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "hubao.db"
    db = Database(f"sqlite:///{path}")
    await db.create_schema()
    size_with_schema = path.stat().st_size
    for i in range(300):
        async with db.command() as tx:
            await records.record_delivery(tx, f"feishu:evt_{i}:" + "x" * 150, NOW)
    # The commits went to the log only: no command paid for copying it into the database.
    assert path.stat().st_size == size_with_schema
    assert Path(f"{path}-wal").stat().st_size > 0

    upkeep = asyncio.create_task(db.checkpoint_forever(every=0.01))
    try:
        async with asyncio.timeout(10):
            while path.stat().st_size == size_with_schema:
                await asyncio.sleep(0.01)
    finally:
        upkeep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await upkeep
    assert path.stat().st_size > size_with_schema
    async with db.command() as tx:  # everything is still there, and writing goes on
        assert not await records.record_delivery(tx, "feishu:evt_299:" + "x" * 150, NOW)
    await db.dispose()


async def test_an_in_memory_database_has_no_checkpoint_task() -> None:
    memory = Database("sqlite:///:memory:")
    await asyncio.wait_for(memory.checkpoint_forever(every=0.01), 1)  # returns at once
    await memory.dispose()
