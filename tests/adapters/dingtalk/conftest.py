"""Fixtures: a ManualClock shared by bot and stand-in, the stand-in DingTalk, adapters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hubao.adapters.dingtalk import Settings, create
from hubao.adapters.dingtalk.adapter import DingTalkAdapter
from hubao.bot.adapter import AdapterContext, DispatchResult
from hubao.bot.clock import ManualClock
from hubao.bot.events import InboundEvent

from .standin import StandIn


class MemoryLeases:
    def __init__(self) -> None:
        self.held: set[str] = set()

    async def try_acquire(self, name: str, ttl: timedelta) -> bool:
        self.held.add(name)
        return True

    async def release(self, name: str) -> None:
        self.held.discard(name)


class Recorder:
    """The transport seam: a dispatch that records events (and says which ones repeat)."""

    def __init__(self) -> None:
        self.events: list[InboundEvent] = []
        self.seen: set[str] = set()
        self.gate: Callable[[], Awaitable[None]] | None = None
        self.store_failures: list[Exception] = []  # the next stores raise these, in turn
        self.stored: list[InboundEvent] = []
        self._changed = asyncio.Event()
        self._processing: set[asyncio.Task[Any]] = set()

    async def accept(self, event: InboundEvent) -> bool:
        """As the kernel's: store (one insert), then process in the background."""
        if self.store_failures:
            raise self.store_failures.pop(0)
        self.stored.append(event)
        task = asyncio.ensure_future(self(event))
        self._processing.add(task)
        task.add_done_callback(self._processing.discard)
        return True

    async def wait(self, count: int, within: float = 5.0) -> list[InboundEvent]:
        """Until ``count`` events were dispatched."""
        async with asyncio.timeout(within):
            while len(self.events) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.events

    async def __call__(self, event: InboundEvent, *, inline_replies: bool = False) -> DispatchResult:
        if self.gate is not None:
            try:
                await self.gate()
            except Exception:  # what the kernel answers when nothing could be stored
                return DispatchResult(handled=False, recorded=False)
        self.events.append(event)
        duplicate = event.dedupe_key in self.seen
        self.seen.add(event.dedupe_key)
        self._changed.set()
        return DispatchResult(duplicate=duplicate)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def standin(clock: ManualClock) -> AsyncIterator[StandIn]:
    server = StandIn(clock=clock)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


MakeAdapter = Callable[..., DingTalkAdapter]


@pytest.fixture
async def make_adapter(standin: StandIn, clock: ManualClock, recorder: Recorder) -> AsyncIterator[MakeAdapter]:
    made: list[DingTalkAdapter] = []

    def make(*, max_body_bytes: int = 64 * 1024, public_url: str = "", **overrides: Any) -> DingTalkAdapter:
        settings = Settings(**standin.settings(**overrides))
        context = AdapterContext(
            dispatch=recorder, clock=clock, leases=MemoryLeases(), max_body_bytes=max_body_bytes,
            public_url=public_url, accept=recorder.accept,
        )  # fmt: skip
        adapter = create(settings, context)
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        await adapter.stop()


@pytest.fixture
async def http_client() -> AsyncIterator[Callable[[DingTalkAdapter], Awaitable[TestClient]]]:
    clients: list[TestClient] = []

    async def build(adapter: DingTalkAdapter) -> TestClient:
        app = web.Application()
        app.add_routes(adapter.routes())
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.close()
