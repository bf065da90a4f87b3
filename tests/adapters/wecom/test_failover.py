"""The one WebSocket a WeCom bot allows, held through the database lease: when its holder dies
without letting go, a stand-by instance takes over once the lease runs out — never before."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from hubao.adapters.wecom import Settings, create
from hubao.adapters.wecom.adapter import WeComAdapter
from hubao.bot.adapter import AdapterContext
from hubao.bot.clock import ManualClock
from hubao.storage.db import Database
from hubao.storage.leases import SqlLeases
from tests.adapters.wecom.conftest import Recorder, until
from tests.adapters.wecom.standin import WeComStandIn

LEASE_TTL = 0.3  # seconds of the manual clock; renewed every ttl/3 of real time


def _instance(name: str, db: Database, clock: ManualClock, standin: WeComStandIn, recorder: Recorder) -> WeComAdapter:
    settings = Settings(
        enabled=True, transport="ws", bot_name="RiskBot", bot_id=standin.bot_id, secret=standin.secret,
        ws_url=standin.ws_url, api_base=standin.base, heartbeat_interval=0.05, reconnect_min=0.02,
        reconnect_max=0.1, ack_timeout=1.0, lease_ttl=LEASE_TTL, kicked_backoff=0.3,
    )  # fmt: skip
    context = AdapterContext(
        dispatch=recorder, clock=clock, leases=SqlLeases(db, clock, name), instance_id=name, public_url="http://bot"
    )
    adapter = create(settings, context)
    assert isinstance(adapter, WeComAdapter)
    return adapter


async def test_a_dead_holder_is_replaced_when_its_lease_runs_out(
    db: Database, clock: ManualClock, standin: WeComStandIn, recorder: Recorder
) -> None:
    first = _instance("one", db, clock, standin, recorder)
    second = _instance("two", db, clock, standin, recorder)
    try:
        await first.start()
        await until(lambda: first.connection_up() is True)
        await second.start()
        await asyncio.sleep(0.3)  # several renewal rounds: the stand-by does not fight for the socket
        assert second.connection_up() is None and standin.subscribes == 1

        # The holder dies: its task is gone and nothing releases the lease.
        assert first.connection is not None and first.connection._task is not None
        first.connection._task.cancel()
        await asyncio.gather(first.connection._task, return_exceptions=True)
        await asyncio.sleep(0.3)
        assert second.connection_up() is None  # the lease has not run out yet (the clock has not moved)

        clock.advance(timedelta(seconds=LEASE_TTL + 0.1))
        await until(lambda: second.connection_up() is True)
        assert standin.subscribes == 2
    finally:
        await second.stop()
        await first.stop()
