"""Three instances on one PostgreSQL database: every step and every message happens exactly once,
even when one instance dies in the middle of its work."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from sqlmodel import col, func, select

from hubao.app import App
from hubao.bot.adapter import Adapter, DeliveryError, SendLimit
from hubao.bot.clock import ManualClock
from hubao.bot.events import InboundEvent, OutboundMessage, User
from hubao.storage.models import Outbox, RiskEvent
from tests.harness import config_for, fresh_database, postgres_url

pytestmark = pytest.mark.skipif(not postgres_url(), reason="several instances need PostgreSQL")

GROUPS = 3
RISKS_PER_GROUP = 8


class Platform:
    """A stand-in platform over loopback HTTP that counts every message it receives."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.server: TestServer | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/send", self._send)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return str(self.server.make_url("/send"))

    async def _send(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        return web.json_response({"ok": True})


class LoopbackAdapter(Adapter):
    platform = "loop"
    send_limit = SendLimit(1000, 1.0)

    def __init__(self, url: str, http: ClientSession) -> None:
        self.url, self.http = url, http
        self.hold: asyncio.Event | None = None  # set: sends wait here (an instance stuck mid-send)

    async def send(self, message: OutboundMessage) -> None:
        if self.hold is not None:
            await self.hold.wait()
        body = {"chat": message.chat_id, "text": message.text, "key": message.idempotency_key}
        async with self.http.post(self.url, json=body) as resp:
            if resp.status != 200:
                raise DeliveryError(f"HTTP {resp.status}", retryable=True)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[list[App], list[LoopbackAdapter], Platform, ManualClock]]:
    platform = Platform()
    url = await platform.start()
    clock = ManualClock()
    async with fresh_database("postgres", tmp_path) as db_url, ClientSession() as http:
        adapters = [LoopbackAdapter(url, http) for _ in range(3)]
        apps = [
            App(config_for(db_url, **{"storage.auto_migrate": True}), clock=clock, adapters={"loop": adapter},
                instance_id=f"instance-{i}")
            for i, adapter in enumerate(adapters)
        ]
        await apps[0].start()  # the first one migrates the shared database
        for app in apps[1:]:
            await app.start()
        try:
            yield apps, adapters, platform, clock
        finally:
            for app in apps:
                await app.close()
            assert platform.server is not None
            await platform.server.close()


async def _log_risks(app: App, clock: ManualClock) -> None:
    for g in range(GROUPS):
        chat = f"chat-{g}"
        await app.register_group("loop", chat, f"group {g}", leader=User(f"loop:lead{g}", f"lead{g}"))
        for n in range(RISKS_PER_GROUP):
            event = InboundEvent("loop", chat, User(f"loop:member{g}", "m"), f"/risk 风险{n} !中",
                                 f"m-{g}-{n}", clock.now())
            await app.dispatch(event)


async def _count(app: App, stmt: Any) -> int:
    async with app.db.transaction() as session:
        return int((await session.exec(stmt)).one())


async def test_three_instances_share_the_work_and_a_dead_one_loses_nothing(cluster: Any) -> None:
    apps, adapters, platform, clock = cluster
    a, b, c = apps
    await _log_risks(a, clock)
    await asyncio.gather(*(app.deliver() for app in apps))
    replies = len(platform.received)
    assert replies == GROUPS * RISKS_PER_GROUP

    clock.advance(minutes=61)  # every risk is now unanswered: one ping each is due

    # Instance b claims escalation steps and then hangs inside its transaction (row locks held).
    stuck = asyncio.Event()
    original_say = b.escalations.say

    async def hang(*args: Any) -> Any:
        stuck.set()
        await asyncio.Event().wait()
        return await original_say(*args)

    b.escalations.say = hang  # type: ignore[assignment]
    b_sweep = asyncio.create_task(b.sweep())
    await stuck.wait()
    # The others sweep meanwhile; rows b holds are skipped, not waited for, not done twice.
    await asyncio.gather(a.sweep(), c.sweep())
    # b dies: its transaction rolls back and its claims are free again.
    b_sweep.cancel()
    await asyncio.gather(b_sweep, return_exceptions=True)
    await asyncio.gather(a.sweep(), c.sweep())

    escalated = await _count(a, select(func.count()).select_from(RiskEvent).where(RiskEvent.kind == "escalated"))
    assert escalated == GROUPS * RISKS_PER_GROUP

    # Delivery: b takes a batch of pings and dies before sending them.
    adapters[1].hold = asyncio.Event()
    b_deliver = asyncio.create_task(b.deliver())
    await asyncio.sleep(0.2)
    await asyncio.gather(a.deliver(), c.deliver())
    b_deliver.cancel()
    await asyncio.gather(b_deliver, return_exceptions=True)
    stranded = await _count(a, select(func.count()).select_from(Outbox).where(col(Outbox.state) == "sending"))
    clock.advance(minutes=3)  # b's claims expire; a live instance delivers what b took
    await asyncio.gather(a.deliver(), c.deliver())

    pings = [m for m in platform.received[replies:]]
    keys = Counter(m["key"] for m in pings)
    assert len(keys) == GROUPS * RISKS_PER_GROUP, "a ping was lost"
    assert max(keys.values()) == 1, f"a ping was sent twice: {keys.most_common(1)}"
    assert all(m["key"].startswith("esc:") for m in pings)
    assert await _count(a, select(func.count()).select_from(Outbox).where(col(Outbox.state) != "sent")) == 0
    assert stranded > 0, "the dead instance should have been holding messages"


async def test_a_weekly_digest_is_posted_by_one_instance(cluster: Any) -> None:
    apps, _adapters, platform, clock = cluster
    await apps[0].register_group("loop", "chat-w", "weekly", leader=User("loop:lead", "lead"))
    await asyncio.gather(*(app.sweep() for app in apps))  # each instance makes sure the week is scheduled
    clock.advance(timedelta(days=5))  # past Friday 17:00 + jitter
    await asyncio.gather(*(app.sweep() for app in apps))
    await asyncio.gather(*(app.deliver() for app in apps))
    digests = [m for m in platform.received if m["chat"] == "chat-w"]
    assert len(digests) == 1


async def test_two_instances_resolving_the_same_risk_at_once_resolve_it_once(cluster: Any) -> None:
    apps, _adapters, _platform, clock = cluster
    a, b, _c = apps
    await _log_risks(a, clock)
    # The leader and the reporter of each risk press "resolve" at the same moment, on two instances.
    # The role check locks the risk's row, so the second waits for the first and then sees it resolved.
    for g in range(GROUPS):
        for n in range(1, RISKS_PER_GROUP + 1):
            chat = f"chat-{g}"
            leader = InboundEvent("loop", chat, User(f"loop:lead{g}", "l"), f"/resolve #{n}", f"rl-{g}-{n}",
                                  clock.now())  # fmt: skip
            member = InboundEvent("loop", chat, User(f"loop:member{g}", "m"), f"/resolve #{n}", f"rm-{g}-{n}",
                                  clock.now())  # fmt: skip
            await asyncio.gather(a.dispatch(leader), b.dispatch(member))

    resolved = await _count(a, select(func.count()).select_from(RiskEvent).where(RiskEvent.kind == "resolved"))
    assert resolved == GROUPS * RISKS_PER_GROUP
    async with a.db.transaction() as session:
        rows = (await session.exec(select(Outbox))).all()
    texts = [o.payload["text"] for o in rows if o.key.startswith(("reply:loop:rl-", "reply:loop:rm-"))]
    assert len(texts) == 2 * GROUPS * RISKS_PER_GROUP, rows[-1].key
    already = [t for t in texts if t.endswith("已经解决了。")]
    assert len(already) == GROUPS * RISKS_PER_GROUP  # one of each pair was told it was already done
