"""Stream mode against the stand-in gateway: open, ACK first, ping, disconnect, silence,
redelivery of un-ACKed frames, card clicks, prompt stop."""

from __future__ import annotations

import asyncio
import time

from hubao.bot.events import Button, OutboundMessage

from .conftest import MakeAdapter, Recorder
from .standin import CHAT, StandIn

CARD_TOPIC = "/v1.0/card/instances/callback"


async def test_message_is_acked_once_stored_before_it_is_processed(
    make_adapter: MakeAdapter, standin: StandIn, recorder: Recorder
) -> None:
    release = asyncio.Event()

    async def slow() -> None:
        await release.wait()

    recorder.gate = slow
    adapter = make_adapter(keepalive=5.0)
    await adapter.start()
    await standin.wait_connected()
    mid = await standin.push_message(standin.robot_message("/risk 服务器磁盘 @Bob", at=("bob01",), msg_id="m1"))
    await standin.wait_acked(mid)  # ACKed while dispatch is still blocked
    assert recorder.events == [] and [e.message_id for e in recorder.stored] == ["m1"]
    [ack] = standin.acks
    assert ack["code"] == 200 and ack["headers"]["messageId"] == mid
    release.set()
    await recorder.wait(1)
    event = recorder.events[0]
    assert event.text == "/risk 服务器磁盘 @Bob" and event.message_id == "m1"
    assert event.mentions[0].user.id == "dingtalk:bob01"
    assert standin.opens == 1


async def test_ping_is_echoed(make_adapter: MakeAdapter, standin: StandIn) -> None:
    adapter = make_adapter(keepalive=5.0)
    await adapter.start()
    await standin.wait_connected()
    await standin.push_system("ping", '{"opaque":"abc"}')
    echo = await standin.wait_ping_echo()
    assert echo["code"] == 200 and echo["data"] == '{"opaque":"abc"}'
    assert echo["headers"]["topic"] == "ping"


async def test_disconnect_frame_opens_a_new_connection(
    make_adapter: MakeAdapter, standin: StandIn, recorder: Recorder
) -> None:
    adapter = make_adapter(keepalive=5.0)
    await adapter.start()
    await standin.wait_connected()
    await standin.push_system("disconnect")
    await standin.wait_connected(2)
    assert standin.opens == 2  # a fresh ticket from the open-connection endpoint
    await standin.push_message(standin.robot_message("/list", msg_id="after"))
    [event] = await recorder.wait(1)
    assert event.message_id == "after"


async def test_dropped_socket_reconnects(make_adapter: MakeAdapter, standin: StandIn) -> None:
    adapter = make_adapter(keepalive=5.0)
    await adapter.start()
    await standin.wait_connected()
    await standin.drop_connection()
    await standin.wait_connected(2)  # times out unless the adapter opens a second connection
    assert standin.connections == 2


async def test_silent_connection_is_replaced(make_adapter: MakeAdapter, standin: StandIn) -> None:
    adapter = make_adapter(ping_interval=0.05, keepalive=0.3)
    await adapter.start()
    await standin.wait_connected()
    await asyncio.sleep(0.5)  # pongs keep a healthy connection alive past the keepalive window
    assert standin.connections == 1
    standin.silent = True  # TCP stays open, nothing comes back
    started = time.monotonic()
    await standin.wait_connected(2)
    assert time.monotonic() - started < 2.0


async def test_unacked_frames_are_redelivered_with_the_same_msg_id(
    make_adapter: MakeAdapter, standin: StandIn, recorder: Recorder
) -> None:
    adapter = make_adapter(ping_interval=0.05, keepalive=0.3)
    await adapter.start()
    await standin.wait_connected()
    standin.silent = True  # the ACK gets lost on a dying connection
    mid = await standin.push_message(standin.robot_message("/ack #1", msg_id="msgRedelivered"))
    await standin.wait_connected(2)  # silence detected, new connection, redelivery
    await standin.wait_acked(mid)
    await recorder.wait(2)
    assert {e.dedupe_key for e in recorder.events} == {"dingtalk:msgRedelivered"}
    assert recorder.seen == {"dingtalk:msgRedelivered"}  # the kernel would drop the second


async def test_card_click_over_stream(make_adapter: MakeAdapter, standin: StandIn, recorder: Recorder) -> None:
    adapter = make_adapter(keepalive=5.0, card_template_id="tpl")
    await adapter.start()
    await standin.wait_connected()
    await adapter.send(
        OutboundMessage(platform="dingtalk", chat_id=CHAT, text="#5 风险", buttons=(Button("resolve", 5),))
    )
    mid = await standin.push_callback(CARD_TOPIC, standin.card_click(standin.card(), "resolve", "carol02"))
    await standin.wait_acked(mid)
    await recorder.wait(1)
    [event] = recorder.events
    assert event.button == Button("resolve", 5) and event.text == "/resolve #5"
    assert event.chat_id == CHAT and event.sender.id == "dingtalk:carol02"
    assert event.reply_handle["out_track_id"] == standin.card().body["outTrackId"]


async def test_garbage_frames_are_acked_and_dropped(
    make_adapter: MakeAdapter, standin: StandIn, recorder: Recorder
) -> None:
    adapter = make_adapter(keepalive=5.0)
    await adapter.start()
    await standin.wait_connected()
    bad = await standin.push_message({"msgId": "x"})
    good = await standin.push_message(standin.robot_message("/list", msg_id="ok"))
    await standin.wait_acked(bad)
    await standin.wait_acked(good)
    await recorder.wait(1)
    assert recorder.events[0].message_id == "ok"


async def test_wrong_credentials_keep_retrying_without_crashing(make_adapter: MakeAdapter, standin: StandIn) -> None:
    adapter = make_adapter(client_secret="wrong", keepalive=5.0)
    await adapter.start()
    await asyncio.sleep(0.2)
    assert standin.connections == 0
    started = time.monotonic()
    await adapter.stop()
    assert time.monotonic() - started < 1.0


async def test_stop_is_prompt_and_final(make_adapter: MakeAdapter, standin: StandIn) -> None:
    adapter = make_adapter(keepalive=5.0)
    assert adapter.connection_up() is False
    await adapter.start()
    await standin.wait_connected()
    await standin.push_system("ping")
    await standin.wait_ping_echo()  # the client is reading frames: it counts itself connected
    assert adapter.connection_up() is True
    assert make_adapter(transport="http").connection_up() is None
    started = time.monotonic()
    await adapter.stop()
    assert time.monotonic() - started < 1.0
    assert adapter.connection_up() is False
    await asyncio.sleep(0.2)
    assert standin.connections == 1 and standin.opens == 1


async def test_a_callback_that_could_not_be_stored_is_not_acked_and_its_redelivery_is_processed(
    make_adapter: MakeAdapter, standin: StandIn, recorder: Recorder
) -> None:
    recorder.store_failures = [RuntimeError("database hiccup")]
    adapter = make_adapter(keepalive=5.0)
    await adapter.start()
    await standin.wait_connected()
    mid = await standin.push_message(standin.robot_message("/list", msg_id="m-retry"))
    await standin.push_system("ping", '{"opaque": "after"}')
    await standin.wait_ping_echo()  # frames are handled in order: the callback's turn is over
    assert not standin.frames[mid].acked and recorder.events == [] and recorder.store_failures == []
    assert await standin.redeliver_unacked() == [mid]
    await standin.wait_acked(mid)
    [event] = await recorder.wait(1)
    assert event.message_id == "m-retry"
