"""HTTP transport: signed robot callbacks and card callbacks from the stand-in, bad input → 4xx."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

from hubao.adapters.dingtalk.decode import encode_track_id

from .conftest import MakeAdapter, Recorder
from .standin import CLIENT_SECRET, WEBHOOK_SECRET, WEBHOOK_TOKEN, StandIn


async def test_signed_callback_is_dispatched(
    make_adapter: MakeAdapter, http_client, standin: StandIn, recorder: Recorder
) -> None:
    adapter = make_adapter(transport="http")
    client = await http_client(adapter)
    payload = standin.robot_message("/risk 库存低 @Bob", at=("bob01",), msg_id="msgA")
    resp = await client.post("/callback/dingtalk", data=json.dumps(payload), headers=standin.signed_headers())
    assert resp.status == 200
    await adapter.drain()
    [event] = recorder.events
    assert event.text == "/risk 库存低 @Bob"
    assert event.sender.id == "dingtalk:alice"
    assert event.message_id == "msgA"
    assert [m.user.id for m in event.mentions] == ["dingtalk:bob01"]


async def test_repeated_msg_id_keeps_its_dedupe_key(
    make_adapter: MakeAdapter, http_client, standin: StandIn, recorder: Recorder
) -> None:
    # The signature does not cover the body: a replayed delivery must carry the same key so the
    # kernel's persistent de-duplication drops it.
    adapter = make_adapter(transport="http")
    client = await http_client(adapter)
    payload = standin.robot_message("/list", msg_id="msgSame")
    for _ in range(2):
        resp = await client.post("/callback/dingtalk", data=json.dumps(payload), headers=standin.signed_headers())
        assert resp.status == 200
    await adapter.drain()
    assert [e.dedupe_key for e in recorder.events] == ["dingtalk:msgSame"] * 2
    assert recorder.seen == {"dingtalk:msgSame"}


async def test_bad_input_is_refused_and_nothing_dispatched(
    make_adapter: MakeAdapter, http_client, standin: StandIn, recorder: Recorder, clock, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = make_adapter(transport="http", max_body_bytes=4096)
    client = await http_client(adapter)
    body = json.dumps(standin.robot_message("/list"))
    cases = [
        ({"Content-Type": "application/json"}, body, 403),  # no signature
        (standin.signed_headers(secret="wrong secret"), body, 403),  # wrong secret
        (standin.signed_headers(at=clock.now() - timedelta(minutes=61)), body, 403),  # stale
        (standin.signed_headers(at=clock.now() + timedelta(minutes=61)), body, 403),  # future
        (standin.signed_headers(), "{not json", 400),  # malformed
        (standin.signed_headers(), json.dumps({"msgId": "x"}), 400),  # not a robot message
        (standin.signed_headers(), json.dumps({**json.loads(body), "pad": "x" * 5000}), 413),  # oversized
    ]
    for headers, data, status in cases:
        resp = await client.post("/callback/dingtalk", data=data, headers=headers)
        assert resp.status == status, (headers, data[:40])

    # oversized without a content-length (chunked) is refused too
    async def chunks():
        yield b"{" + b" " * 5000
        yield b"}"

    resp = await client.post("/callback/dingtalk", data=chunks(), headers=standin.signed_headers())
    assert resp.status == 413
    await adapter.drain()
    assert recorder.events == []
    assert "rejected" in caplog.text  # refusals are logged ...
    for secret in (CLIENT_SECRET, WEBHOOK_SECRET, WEBHOOK_TOKEN, standin.signed_headers()["sign"]):
        assert secret not in caplog.text  # ... without a secret or a valid signature


async def test_signature_uses_the_app_secret_header_value_raw(
    make_adapter: MakeAdapter, http_client, standin: StandIn
) -> None:
    adapter = make_adapter(transport="http")
    client = await http_client(adapter)
    headers = standin.signed_headers()
    headers["sign"] = headers["sign"].replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    if headers["sign"] == standin.signed_headers()["sign"]:
        headers["sign"] = headers["sign"][:-2] + "AA"
    resp = await client.post("/callback/dingtalk", data=json.dumps(standin.robot_message("/x")), headers=headers)
    assert resp.status == 403
    assert CLIENT_SECRET not in await resp.text()


async def test_failed_dispatch_answers_503_for_a_redelivery(
    make_adapter: MakeAdapter, http_client, standin: StandIn, recorder: Recorder
) -> None:
    adapter = make_adapter(transport="http")
    client = await http_client(adapter)

    async def boom() -> None:
        raise RuntimeError("database down")

    recorder.gate = boom
    resp = await client.post(
        "/callback/dingtalk", data=json.dumps(standin.robot_message("/x")), headers=standin.signed_headers()
    )
    assert resp.status == 503


async def test_http_card_click(make_adapter: MakeAdapter, http_client, standin: StandIn, recorder: Recorder) -> None:
    from hubao.bot.events import Button, OutboundMessage

    adapter = make_adapter(
        transport="http", card_template_id="tpl.schema", card_callback_token="s3cr3t-path", webhook_url=""
    )
    client = await http_client(adapter)
    await adapter.send(
        OutboundMessage(platform="dingtalk", chat_id="cidG", text="#4 风险", buttons=(Button("ack", 4),))
    )
    card = standin.card()
    assert card.body["callbackType"] == "HTTP" and card.body["callbackRouteKey"] == "hubao"
    click = standin.card_click(card, "ack", "bob01")
    resp = await client.post("/callback/dingtalk/card/wrong", json=click)
    assert resp.status == 403
    resp = await client.post("/callback/dingtalk/card/s3cr3t-path", data="nope")
    assert resp.status == 400
    resp = await client.post("/callback/dingtalk/card/s3cr3t-path", json={**click, "outTrackId": "x"})
    assert resp.status == 400
    assert recorder.events == []
    resp = await client.post("/callback/dingtalk/card/s3cr3t-path", json=click)
    assert resp.status == 200
    await adapter.drain()
    [event] = recorder.events
    assert event.button == Button("ack", 4) and event.text == "/ack #4"
    assert event.chat_id == "cidG" and event.sender.id == "dingtalk:bob01"


async def test_http_start_registers_the_card_callback(make_adapter: MakeAdapter, standin: StandIn) -> None:
    adapter = make_adapter(
        transport="http", card_template_id="tpl.schema", card_callback_token="tok", public_url="https://bot.example"
    )
    await adapter.start()
    await adapter.drain()
    [reg] = standin.registered_callbacks
    assert reg["callbackUrl"] == "https://bot.example/callback/dingtalk/card/tok"
    assert reg["callbackRouteKey"] == "hubao" and reg["forceUpdate"] is True


async def test_a_body_sent_in_two_chunks_is_read_whole(
    make_adapter: MakeAdapter, http_client, standin: StandIn, recorder: Recorder
) -> None:
    adapter = make_adapter(transport="http")
    client = await http_client(adapter)
    data = json.dumps(standin.robot_message("/list", msg_id="chunked-1")).encode()

    async def two_chunks():
        yield data[:100]
        await asyncio.sleep(0.2)  # a real pause on the socket between the two halves
        yield data[100:]

    resp = await client.post("/callback/dingtalk", data=two_chunks(), headers=standin.signed_headers())
    assert resp.status == 200, await resp.text()
    await adapter.drain()
    assert [e.message_id for e in recorder.events] == ["chunked-1"]


DEEP = "[" * 30_000 + "]" * 30_000  # 60 KB of nesting: more than the parser's recursion limit


async def test_deeply_nested_json_is_refused_not_a_server_error(
    make_adapter: MakeAdapter, http_client, standin: StandIn, recorder: Recorder
) -> None:
    adapter = make_adapter(
        transport="http", card_template_id="tpl.schema", card_callback_token="s3cr3t-path", webhook_url=""
    )
    client = await http_client(adapter)
    resp = await client.post("/callback/dingtalk", data=DEEP, headers=standin.signed_headers())
    assert resp.status == 400
    resp = await client.post("/callback/dingtalk/card/s3cr3t-path", data=DEEP)
    assert resp.status == 400
    track_id = encode_track_id("cidGroup1", 7, "abcd")
    click = {"outTrackId": track_id, "userId": "bob01", "content": DEEP[:20_000] + DEEP[-20_000:]}
    resp = await client.post("/callback/dingtalk/card/s3cr3t-path", json=click)
    assert resp.status == 400
    await adapter.drain()
    assert recorder.events == []


async def test_a_message_that_could_not_be_stored_is_answered_503_and_its_redelivery_processed(
    make_adapter: MakeAdapter, http_client, standin: StandIn, recorder: Recorder
) -> None:
    adapter = make_adapter(transport="http")
    client = await http_client(adapter)
    failures = [RuntimeError("database hiccup")]

    async def fails_once() -> None:
        if failures:
            raise failures.pop()

    recorder.gate = fails_once
    data = json.dumps(standin.robot_message("/list", msg_id="m-retry"))
    resp = await client.post("/callback/dingtalk", data=data, headers=standin.signed_headers())
    assert resp.status == 503 and recorder.events == []  # not "received": DingTalk sends it again
    resp = await client.post("/callback/dingtalk", data=data, headers=standin.signed_headers())
    assert resp.status == 200
    assert [e.message_id for e in recorder.events] == ["m-retry"]
