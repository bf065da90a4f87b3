from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hubao.adapters.feishu import Settings, create
from hubao.adapters.feishu.adapter import FeishuAdapter
from hubao.bot.adapter import AdapterContext, DispatchResult
from hubao.bot.clock import ManualClock
from hubao.bot.events import InboundEvent, OutboundMessage

from .standin import APP_ID, APP_SECRET, ENCRYPT_KEY, VERIFICATION_TOKEN, FeishuStandIn


class MemoryLeases:
    def __init__(self) -> None:
        self.held: set[str] = set()

    async def try_acquire(self, name: str, ttl: timedelta) -> bool:
        self.held.add(name)
        return True

    async def release(self, name: str) -> None:
        self.held.discard(name)


class Recorder:
    """A dispatch seam that records what the adapter hands the kernel.

    ``answer`` builds the replies for an event; ``gate`` (if set) holds dispatch until released.
    """

    def __init__(self) -> None:
        self.events: list[InboundEvent] = []
        self.inline: list[bool] = []
        self.stored: list[InboundEvent] = []
        self.answer: Callable[[InboundEvent], tuple[OutboundMessage, ...]] | None = None
        self.gate: asyncio.Event | None = None
        self.arrived = asyncio.Event()
        self.adapter: FeishuAdapter | None = None
        self._seen: set[str] = set()

    async def accept(self, event: InboundEvent) -> bool:
        """As the kernel's: store, then complete (``enrich``) and process in the background.

        The processing runs as the adapter's background work, so ``adapter.idle()`` waits for it
        as ``App.idle()`` does for the real kernel."""
        self.stored.append(event)
        adapter = self.adapter
        assert adapter is not None

        async def process() -> None:
            await self(await adapter.enrich(event))

        adapter._spawn(process())
        return True

    async def __call__(self, event: InboundEvent, *, inline_replies: bool = False) -> DispatchResult:
        self.events.append(event)
        self.inline.append(inline_replies)
        self.arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        if event.dedupe_key in self._seen:
            return DispatchResult(duplicate=True)
        self._seen.add(event.dedupe_key)
        replies = self.answer(event) if self.answer else ()
        return DispatchResult(replies=tuple(replies) if inline_replies else ())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def standin(clock: ManualClock) -> AsyncIterator[FeishuStandIn]:
    server = FeishuStandIn(clock)
    await server.start()
    yield server
    await server.close()


def settings_for(standin: FeishuStandIn, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "enabled": True,
        "transport": "http",
        "app_id": APP_ID,
        "app_secret": APP_SECRET,
        "encrypt_key": ENCRYPT_KEY,
        "verification_token": VERIFICATION_TOKEN,
        "api_base": standin.url,
        "ws_endpoint_url": standin.url + "/callback/ws/endpoint",
        "ws_ping_interval": 0.05,
        "ws_reconnect_interval": 0.05,
        "ws_reconnect_nonce": 0.0,
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture
def make_adapter(standin: FeishuStandIn, clock: ManualClock, recorder: Recorder) -> Callable[..., FeishuAdapter]:
    def make(max_body_bytes: int = 64 * 1024, **overrides: Any) -> FeishuAdapter:
        context = AdapterContext(
            dispatch=recorder, clock=clock, leases=MemoryLeases(), max_body_bytes=max_body_bytes, accept=recorder.accept
        )
        adapter = create(settings_for(standin, **overrides), context)
        assert isinstance(adapter, FeishuAdapter)
        recorder.adapter = adapter
        return adapter

    return make


@pytest.fixture
async def adapter(make_adapter: Callable[..., FeishuAdapter]) -> AsyncIterator[FeishuAdapter]:
    instance = make_adapter()
    yield instance
    await instance.stop()


async def serve(adapter: FeishuAdapter) -> TestClient[Any, Any]:
    app = web.Application()
    app.add_routes(adapter.routes())
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def http(adapter: FeishuAdapter) -> AsyncIterator[TestClient[Any, Any]]:
    client = await serve(adapter)
    yield client
    await client.close()
