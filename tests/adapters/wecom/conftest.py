from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hubao.adapters.wecom import Settings, create
from hubao.adapters.wecom.adapter import WeComAdapter
from hubao.bot.adapter import AdapterContext, DispatchResult
from hubao.bot.clock import ManualClock
from hubao.bot.events import InboundEvent, OutboundMessage
from tests.adapters.wecom.standin import WeComStandIn

WEBHOOK_KEYS = {"robot-key-1": "wrGroup1"}


class MemoryLeases:
    """The Leases protocol over a dict shared by several 'instances' (monotonic real time)."""

    def __init__(self, store: dict[str, tuple[str, float]], holder: str) -> None:
        self.store, self.holder = store, holder

    async def try_acquire(self, name: str, ttl: timedelta) -> bool:
        now = time.monotonic()
        current = self.store.get(name)
        if current and current[0] != self.holder and current[1] > now:
            return False
        self.store[name] = (self.holder, now + ttl.total_seconds())
        return True

    async def release(self, name: str) -> None:
        if self.store.get(name, ("", 0))[0] == self.holder:
            del self.store[name]


@dataclass
class Recorder:
    """The dispatch seam: records events, dedupes like the kernel, answers clicks with canned replies."""

    events: list[InboundEvent] = field(default_factory=list)
    inline: list[bool] = field(default_factory=list)
    answer: Callable[[InboundEvent], tuple[OutboundMessage, ...]] = lambda event: ()
    seen: set[str] = field(default_factory=set)

    async def __call__(self, event: InboundEvent, *, inline_replies: bool = False) -> DispatchResult:
        if event.dedupe_key in self.seen:
            return DispatchResult(duplicate=True)
        self.seen.add(event.dedupe_key)
        self.events.append(event)
        self.inline.append(inline_replies)
        replies = self.answer(event)
        return DispatchResult(replies=replies if inline_replies else ())


@pytest.fixture
async def standin(clock: ManualClock) -> AsyncIterator[WeComStandIn]:
    fake = WeComStandIn(clock, webhook_keys=WEBHOOK_KEYS)
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def lease_store() -> dict[str, tuple[str, float]]:
    return {}


@pytest.fixture
async def make_adapter(
    standin: WeComStandIn, clock: ManualClock, recorder: Recorder, lease_store: dict[str, tuple[str, float]]
) -> AsyncIterator[Callable[..., WeComAdapter]]:
    built: list[WeComAdapter] = []

    def build(
        *, instance: str = "a", max_body_bytes: int = 1_048_576, public_url: str = "http://bot", **overrides: Any
    ) -> WeComAdapter:
        values: dict[str, Any] = {
            "enabled": True,
            "transport": "ws",
            "bot_name": "RiskBot",
            "token": standin.token,
            "encoding_aes_key": standin.aes_key,
            "bot_id": standin.bot_id,
            "secret": standin.secret,
            "ws_url": standin.ws_url,
            "api_base": standin.base,
            "webhook_keys": {chat: key for key, chat in WEBHOOK_KEYS.items()},
            "heartbeat_interval": 0.05,
            "reconnect_min": 0.02,
            "reconnect_max": 0.1,
            "ack_timeout": 1.0,
            "lease_ttl": 0.3,
            "kicked_backoff": 0.3,
        }
        values.update(overrides)
        context = AdapterContext(
            dispatch=recorder,
            clock=clock,
            leases=MemoryLeases(lease_store, instance),
            max_body_bytes=max_body_bytes,
            public_url=public_url,
            instance_id=instance,
        )
        adapter = create(Settings(**values), context)
        assert isinstance(adapter, WeComAdapter)
        built.append(adapter)
        return adapter

    yield build
    for adapter in built:
        await adapter.stop()


@pytest.fixture
async def serve_routes() -> AsyncIterator[Callable[..., Any]]:
    """Mount an adapter's routes on a loopback server; returns its base URL."""
    servers: list[TestServer] = []

    async def run(adapter: WeComAdapter, max_size: int = 1_048_576) -> str:
        app = web.Application(client_max_size=max_size)
        app.router.add_routes(adapter.routes())
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/callback/wecom"))

    yield run
    for server in servers:
        await server.close()


async def until(predicate: Callable[[], bool], limit: float = 3.0) -> None:
    """Wait for state that real sockets change (connection state, frames handled)."""
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - polling state owned by other tasks on real sockets
            await asyncio.sleep(0.005)
