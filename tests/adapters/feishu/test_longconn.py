"""The long connection: protobuf frames over a WebSocket, on our own loop, with reconnects."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable

import pytest

from hubao.adapters.feishu.adapter import FeishuAdapter
from hubao.bot.events import Button, InboundEvent, OutboundMessage

from .conftest import Recorder
from .standin import BOT_NAME, BOT_OPEN_ID, FeishuStandIn, card_event, message_event


@pytest.fixture
async def connected(make_adapter: Callable[..., FeishuAdapter], standin: FeishuStandIn) -> AsyncIterator[FeishuAdapter]:
    adapter = make_adapter(transport="long_connection")
    started = time.monotonic()
    await adapter.start()
    assert time.monotonic() - started < 2, "start() must not block"
    await asyncio.wait_for(standin.connected.wait(), 5)
    yield adapter
    await adapter.stop()


async def test_message_is_acked_once_stored_then_dispatched(
    connected: FeishuAdapter, standin: FeishuStandIn, recorder: Recorder
) -> None:
    recorder.gate = asyncio.Event()  # a slow kernel must not delay the ACK
    mentions = {"@_user_1": (BOT_OPEN_ID, BOT_NAME), "@_user_2": ("ou_bob", "Bob")}
    payload = message_event("oc_1", "ou_alice", "@_user_1 /risk 断供 @_user_2", mentions)
    headers, answer, code = await standin.push(payload)
    assert code == 200 and answer is None and "biz_rt" in headers
    recorder.gate.set()
    await connected.idle()
    (event,) = recorder.events
    assert event.text == "/risk 断供 @_user_2" and event.mentions[0].user.id == "feishu:ou_bob"
    assert event.message_id == payload["header"]["event_id"] and recorder.inline == [False]


async def test_card_click_answer_travels_in_the_response_frame(
    connected: FeishuAdapter, standin: FeishuStandIn, recorder: Recorder
) -> None:
    def answer(event: InboundEvent) -> tuple[OutboundMessage, ...]:
        return (OutboundMessage("feishu", event.chat_id, "风险 #5 已解决", updates_card=True, toast="已解决 #5"),)

    recorder.answer = answer
    _, reply, code = await standin.push(card_event("oc_1", "ou_bob", Button("resolve", 5).to_value()))
    assert code == 200
    assert reply["toast"] == {"type": "success", "content": "已解决 #5"}
    assert reply["card"]["type"] == "raw"
    assert recorder.events[0].button == Button("resolve", 5) and recorder.inline == [True]


async def test_split_payload_is_reassembled(
    connected: FeishuAdapter, standin: FeishuStandIn, recorder: Recorder
) -> None:
    await standin.push(message_event("oc_1", "ou_alice", "/risk " + "长" * 500), parts=3)
    await connected.idle()
    assert recorder.events[0].text == "/risk " + "长" * 500


async def test_bad_frames_are_dropped(connected: FeishuAdapter, standin: FeishuStandIn, recorder: Recorder) -> None:
    _, answer, code = await standin.push(b"{not json")
    assert code == 200 and answer is None
    with pytest.raises(TimeoutError):  # legacy "card" frames get no answer, as with the SDK
        await standin.push(card_event("oc_1", "ou_bob", Button("ack", 1).to_value()), kind="card", wait=0.3)
    await connected.idle()
    assert recorder.events == []


async def test_pings_and_server_config(make_adapter: Callable[..., FeishuAdapter], standin: FeishuStandIn) -> None:
    standin.client_config = {"PingInterval": 0.02, "ReconnectInterval": 0.05, "ReconnectNonce": 0}
    standin.pong_config = {"PingInterval": 0.03, "ReconnectInterval": 9, "ReconnectNonce": 0}
    adapter = make_adapter(transport="long_connection")
    await adapter.start()
    try:
        for _ in range(200):
            if standin.pings >= 3:
                break
            await asyncio.sleep(0.01)
        assert standin.pings >= 3
        connection = adapter.long_connection
        assert connection is not None
        assert connection.ping_interval == 0.03 and connection.reconnect_interval == 9
    finally:
        await adapter.stop()


async def test_reconnects_after_the_server_drops_it(
    connected: FeishuAdapter, standin: FeishuStandIn, recorder: Recorder
) -> None:
    connection = connected.long_connection
    assert connection is not None and connection.connections == 1
    await standin.drop_connections()
    for _ in range(300):
        if connection.connections == 2 and standin.sockets:
            break
        await asyncio.sleep(0.01)
    assert connection.connections == 2
    await standin.push(message_event("oc_1", "ou_alice", "/help"))
    await connected.idle()
    assert [e.text for e in recorder.events] == ["/help"]


async def test_refused_handshake_is_retried_and_logged(
    make_adapter: Callable[..., FeishuAdapter], standin: FeishuStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    standin.ws_refuse = True
    adapter = make_adapter(transport="long_connection")
    await adapter.start()
    try:
        await asyncio.sleep(0.3)
        assert "handshake refused" in caplog.text and "forbidden" in caplog.text
        standin.ws_refuse = False
        await asyncio.wait_for(standin.connected.wait(), 5)
    finally:
        await adapter.stop()


@pytest.mark.parametrize("state", ["connected", "waiting-to-reconnect", "bad-credentials"])
async def test_stop_is_prompt(state: str, make_adapter: Callable[..., FeishuAdapter], standin: FeishuStandIn) -> None:
    standin.client_config = {"PingInterval": 120, "ReconnectInterval": 3600, "ReconnectNonce": 0}
    adapter = make_adapter(
        transport="long_connection",
        ws_reconnect_interval=3600,
        app_secret="wrong" if state == "bad-credentials" else "standin-app-secret",
    )
    standin.ws_refuse = state == "waiting-to-reconnect"
    await adapter.start()
    if state == "connected":
        await asyncio.wait_for(standin.connected.wait(), 5)
    else:
        await asyncio.sleep(0.2)
    started = time.monotonic()
    await adapter.stop()
    assert time.monotonic() - started < 1
    assert not standin.sockets or all(ws.closed for ws in standin.sockets)


async def test_silent_connection_is_replaced(
    make_adapter: Callable[..., FeishuAdapter], standin: FeishuStandIn
) -> None:
    standin.client_config = {"PingInterval": 0.05, "ReconnectInterval": 0.05, "ReconnectNonce": 0}
    adapter = make_adapter(transport="long_connection")
    await adapter.start()
    try:
        await asyncio.wait_for(standin.connected.wait(), 5)
        connection = adapter.long_connection
        assert connection is not None
        standin.mute = True  # pongs stop coming back, the socket stays open
        for _ in range(300):
            if connection.connections >= 2:
                break
            await asyncio.sleep(0.01)
        assert connection.connections >= 2
    finally:
        await adapter.stop()


def test_start_loads_the_sdk_off_the_loop() -> None:
    """``import lark_oapi`` takes seconds: start() returns at once and the loop keeps ticking."""
    code = """
import asyncio, sys, time
from hubao.adapters.feishu import Settings, create
from hubao.bot.adapter import AdapterContext
from hubao.bot.clock import SystemClock

async def dispatch(event, *, inline_replies=False): ...

async def main():
    settings = Settings(app_id="a", app_secret="b", transport="long_connection", api_base="http://127.0.0.1:9",
                        ws_endpoint_url="http://127.0.0.1:9/x", ws_reconnect_interval=60)
    adapter = create(settings, AdapterContext(dispatch=dispatch, clock=SystemClock(), leases=None))
    gaps, last = [], time.monotonic()
    async def tick():
        nonlocal last
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
    ticker = asyncio.create_task(tick())
    assert "lark_oapi" not in sys.modules
    started = time.monotonic()
    await adapter.start()
    assert time.monotonic() - started < 0.5, "start() waited for the import"
    while "lark_oapi.ws.pb.pbbp2_pb2" not in sys.modules or adapter.long_connection._frame_class is None:
        await asyncio.sleep(0.05)
    await adapter.stop()
    ticker.cancel()
    assert max(gaps) < 1.5, f"the loop stalled for {max(gaps):.2f}s"

asyncio.run(main())
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
