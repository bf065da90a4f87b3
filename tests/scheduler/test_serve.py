"""`hubao serve` runs the sweep on APScheduler: the first pass at start-up catches up at once."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from hubao.app import App
from hubao.bot.clock import ManualClock
from tests.harness import config_for
from tests.scheduler.helpers import escalations, team


async def test_serve_sweeps_due_risks_on_its_scheduler(make_console: Any, db_url: str, clock: ManualClock) -> None:
    console = await team(make_console)
    await console.say("lead", "/risk stock is low @bob")
    await console.close()
    clock.advance(hours=1)  # due while nobody was running
    config = config_for(db_url, **{"server.host": "127.0.0.1", "server.port": 0, "escalation.sweep_interval": "1s"})
    app = App(config, clock=clock, instance_id="served")
    task = asyncio.create_task(app.serve())
    try:
        for _ in range(200):  # the scheduler's first run is immediate; wait for it, at most 10 s
            if await escalations(console):
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert [(e["step"], e["repeat"]) for e in await escalations(console)] == [("respond", 1)]
