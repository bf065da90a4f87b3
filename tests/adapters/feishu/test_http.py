"""HTTP event subscription: url_verification, signed+encrypted events, card clicks, bad input."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hubao.adapters.feishu.adapter import FeishuAdapter
from hubao.bot.clock import ManualClock
from hubao.bot.events import Button, InboundEvent, OutboundMessage, User

from .conftest import Recorder, serve
from .standin import (
    APP_SECRET,
    BOT_NAME,
    BOT_OPEN_ID,
    ENCRYPT_KEY,
    VERIFICATION_TOKEN,
    FeishuStandIn,
    card_event,
    encrypt,
    message_event,
    sign,
    signed_request,
)

PATH = "/callback/feishu"
SECRETS = (APP_SECRET, ENCRYPT_KEY, VERIFICATION_TOKEN)


async def post(http: TestClient[Any, Any], body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    async with http.post(PATH, data=body, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def test_url_verification_encrypted(http: TestClient[Any, Any], clock: ManualClock) -> None:
    payload = {"challenge": "ch-123", "token": VERIFICATION_TOKEN, "type": "url_verification"}
    body, headers = signed_request(payload, clock=clock, signed=False)  # Feishu does not sign it
    assert await post(http, body, headers) == (200, {"challenge": "ch-123"})


async def test_url_verification_with_wrong_token(http: TestClient[Any, Any], clock: ManualClock) -> None:
    payload = {"challenge": "ch-123", "token": "nope", "type": "url_verification"}
    body, headers = signed_request(payload, clock=clock, signed=False)
    status, _ = await post(http, body, headers)
    assert status == 401


async def test_message_is_answered_once_stored_then_dispatched(
    adapter: FeishuAdapter, http: TestClient[Any, Any], clock: ManualClock, recorder: Recorder
) -> None:
    recorder.gate = asyncio.Event()  # the kernel is slow: the answer waits for the store, not for it
    mentions = {"@_user_1": (BOT_OPEN_ID, BOT_NAME), "@_user_2": ("ou_bob", "Bob")}
    payload = message_event("oc_1", "ou_alice", "@_user_1 /risk 库存低 @_user_2", mentions)
    body, headers = signed_request(payload, clock=clock)
    started = time.monotonic()
    status, _ = await post(http, body, headers)
    assert status == 200 and time.monotonic() - started < 1.0
    assert [e.message_id for e in recorder.stored] == [payload["header"]["event_id"]]  # stored before the answer
    await asyncio.wait_for(recorder.arrived.wait(), 5)
    recorder.gate.set()
    await adapter.idle()
    (event,) = recorder.events
    assert recorder.inline == [False]
    assert event.text == "/risk 库存低 @_user_2"  # bot's open_id learned from bot/v3/info
    assert event.mentions[0].user == User("feishu:ou_bob", "Bob")
    assert event.mentions[0].token == "@_user_2"
    assert event.message_id == payload["header"]["event_id"]


async def test_retried_event_keeps_its_dedupe_id(
    adapter: FeishuAdapter, http: TestClient[Any, Any], clock: ManualClock, recorder: Recorder
) -> None:
    payload = message_event("oc_1", "ou_alice", "/help")
    for _ in range(2):  # Feishu re-pushes the same event with a fresh timestamp and signature
        body, headers = signed_request(payload, clock=clock)
        assert (await post(http, body, headers))[0] == 200
        clock.advance(seconds=5)
    await adapter.idle()
    assert [e.dedupe_key for e in recorder.events] == [f"feishu:{payload['header']['event_id']}"] * 2


def _answers(event: InboundEvent) -> tuple[OutboundMessage, ...]:
    assert event.button is not None
    number = event.button.risk_number
    return (
        OutboundMessage("feishu", event.chat_id, f"Bob 已确认风险 #{number}", reply_handle=event.reply_handle),
        OutboundMessage(
            "feishu",
            event.chat_id,
            f"风险 #{number} 已确认",
            buttons=(Button("resolve", number, "解决"),),
            updates_card=True,
            toast=f"已确认 #{number}",
            reply_handle=event.reply_handle,
        ),
    )


async def test_card_click_answers_toast_and_card(
    adapter: FeishuAdapter,
    http: TestClient[Any, Any],
    clock: ManualClock,
    recorder: Recorder,
    standin: FeishuStandIn,
) -> None:
    recorder.answer = _answers
    payload = card_event("oc_1", "ou_bob", Button("ack", 3).to_value(), message_id="om_card_3")
    body, headers = signed_request(payload, clock=clock)
    status, answer = await post(http, body, headers)
    assert status == 200
    assert answer["toast"] == {"type": "success", "content": "已确认 #3"}
    card = answer["card"]["data"]
    assert card["elements"][-1]["actions"][0]["value"] == {"hubao": "resolve", "risk": 3}
    (event,) = recorder.events
    assert recorder.inline == [True]
    assert event.button == Button("ack", 3) and event.text == "/ack #3"
    assert event.sender.id == "feishu:ou_bob"
    await adapter.idle()
    assert [s.text for s in standin.sent_to("oc_1")] == ["Bob 已确认风险 #3"]  # the other reply is posted


async def test_slow_card_click_toasts_then_patches_card(
    make_adapter: Callable[..., FeishuAdapter], clock: ManualClock, recorder: Recorder, standin: FeishuStandIn
) -> None:
    adapter = make_adapter(card_reply_timeout=0.1)
    http = await serve(adapter)
    try:
        recorder.answer, recorder.gate = _answers, asyncio.Event()
        body, headers = signed_request(card_event("oc_1", "ou_bob", Button("ack", 4).to_value()), clock=clock)
        status, answer = await post(http, body, headers)
        assert status == 200 and answer["toast"]["type"] == "info"
        recorder.gate.set()
        await adapter.idle()
        assert [message_id for message_id, _ in standin.updates] == ["om_card"]
        assert standin.updates[0][1]["elements"][-1]["actions"][0]["value"] == {"hubao": "resolve", "risk": 4}
    finally:
        await http.close()
        await adapter.stop()


async def test_foreign_button_does_nothing(http: TestClient[Any, Any], clock: ManualClock, recorder: Recorder) -> None:
    body, headers = signed_request(card_event("oc_1", "ou_bob", {"other": "app"}), clock=clock)
    assert await post(http, body, headers) == (200, {})
    assert recorder.events == []


async def test_our_errors_never_make_feishu_retry(
    adapter: FeishuAdapter, http: TestClient[Any, Any], clock: ManualClock, recorder: Recorder
) -> None:
    def boom(event: InboundEvent) -> tuple[OutboundMessage, ...]:
        raise RuntimeError("database is down")

    recorder.answer = boom
    body, headers = signed_request(message_event("oc_1", "ou_alice", "/help"), clock=clock)
    assert (await post(http, body, headers))[0] == 200
    body, headers = signed_request(card_event("oc_1", "ou_bob", Button("ack", 3).to_value()), clock=clock)
    status, answer = await post(http, body, headers)
    assert status == 200 and answer["toast"]["type"] == "error"
    await adapter.idle()


def _tamper(kind: str, clock: ManualClock) -> tuple[bytes, dict[str, str]]:
    payload = message_event("oc_1", "ou_alice", "/risk x")
    if kind == "wrong-signature":
        body, headers = signed_request(payload, clock=clock)
        return body, headers | {"X-Lark-Signature": sign("1", "2", ENCRYPT_KEY, body)}
    if kind == "body-changed-after-signing":
        body, headers = signed_request(payload, clock=clock)
        return body.replace(b'"}', b'=="}'), headers
    if kind == "stale-timestamp":
        return signed_request(payload, clock=clock, skew=-301)
    if kind == "future-timestamp":
        return signed_request(payload, clock=clock, skew=+301)
    if kind == "unsigned-event":
        return signed_request(payload, clock=clock, signed=False)
    if kind == "undecryptable":
        # correctly signed, but encrypted with another key
        return _resign(json.dumps({"encrypt": encrypt(b"{}", "another key", iv=bytes(16))}).encode(), clock)
    if kind == "encrypted-garbage":
        return _resign(json.dumps({"encrypt": encrypt(b"\xff not json", ENCRYPT_KEY)}).encode(), clock)
    if kind == "malformed-json":
        return _resign(b'{"encrypt": ', clock)
    if kind == "not-an-object":
        return _resign(b"[1, 2]", clock)
    if kind == "plaintext-body":
        return _resign(json.dumps(payload).encode(), clock)
    if kind == "wrong-token-inside":
        return signed_request(message_event("oc_1", "ou_alice", "/risk x", token="forged"), clock=clock)
    if kind == "oversized":
        payload["event"]["message"]["content"] = json.dumps({"text": "x" * 70_000})
        return signed_request(payload, clock=clock)
    raise AssertionError(kind)


def _resign(body: bytes, clock: ManualClock) -> tuple[bytes, dict[str, str]]:
    timestamp, nonce = str(int(clock.now().timestamp())), "n0nce"
    headers = {
        "X-Lark-Request-Timestamp": timestamp,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": sign(timestamp, nonce, ENCRYPT_KEY, body),
    }
    return body, headers


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("wrong-signature", 401),
        ("body-changed-after-signing", 401),
        ("stale-timestamp", 401),
        ("future-timestamp", 401),
        ("unsigned-event", 401),
        ("undecryptable", 400),
        ("encrypted-garbage", 400),
        ("malformed-json", 400),
        ("not-an-object", 400),
        ("plaintext-body", 400),
        ("wrong-token-inside", 401),
        ("oversized", 413),
    ],
)
async def test_bad_input_is_refused(
    kind: str,
    status: int,
    adapter: FeishuAdapter,
    http: TestClient[Any, Any],
    clock: ManualClock,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    body, headers = _tamper(kind, clock)
    got, _ = await post(http, body, headers)
    assert got == status
    await adapter.idle()
    assert recorder.events == []
    assert caplog.records, "a refusal is logged"
    for secret in SECRETS:
        assert secret not in caplog.text


async def test_token_mode_without_encrypt_key(
    make_adapter: Callable[..., FeishuAdapter], recorder: Recorder, clock: ManualClock
) -> None:
    adapter = make_adapter(encrypt_key="")
    http = await serve(adapter)
    try:
        verification = {"challenge": "c1", "token": VERIFICATION_TOKEN, "type": "url_verification"}
        assert await post(http, json.dumps(verification).encode(), {}) == (200, {"challenge": "c1"})
        forged = message_event("oc_1", "ou_alice", "/help", token="forged")
        assert (await post(http, json.dumps(forged).encode(), {}))[0] == 401
        encrypted = json.dumps({"encrypt": encrypt(b"{}", "k")}).encode()
        assert (await post(http, encrypted, {}))[0] == 400
        good = message_event("oc_1", "ou_alice", "/help")
        stamp = {"X-Lark-Request-Timestamp": str(int(clock.now().timestamp()))}
        assert (await post(http, json.dumps(good).encode(), stamp))[0] == 200
        await adapter.idle()
        assert [e.text for e in recorder.events] == ["/help"]
    finally:
        await http.close()
        await adapter.stop()


def test_no_http_route_for_long_connection(make_adapter: Callable[..., FeishuAdapter]) -> None:
    assert make_adapter(transport="long_connection").routes() == ()
    assert [r.path for r in make_adapter().routes()] == [PATH]  # type: ignore[attr-defined]


async def test_sender_names_come_from_the_contact_api_once(
    adapter: FeishuAdapter, http: TestClient[Any, Any], clock: ManualClock, recorder: Recorder, standin: FeishuStandIn
) -> None:
    mentions = {"@_user_1": (BOT_OPEN_ID, BOT_NAME), "@_user_2": ("ou_dave", "Dave")}
    for sender in ("ou_alice", "ou_alice", "ou_nobody"):
        body, headers = signed_request(message_event("oc_1", sender, "@_user_1 /help @_user_2", mentions), clock=clock)
        assert (await post(http, body, headers))[0] == 200
        await adapter.idle()
    for operator in ("ou_alice", "ou_dave"):  # clicks use names already known, no lookup
        body, headers = signed_request(card_event("oc_1", operator, Button("ack", 1).to_value()), clock=clock)
        assert (await post(http, body, headers))[0] == 200
    assert [e.sender for e in recorder.events] == [
        User("feishu:ou_alice", "Alice"),
        User("feishu:ou_alice", "Alice"),
        User("feishu:ou_nobody", ""),  # outside the app's contact range: shown by id
        User("feishu:ou_alice", "Alice"),
        User("feishu:ou_dave", "Dave"),  # learned from a mention
    ]
    assert standin.name_lookups == 2


async def test_a_body_sent_in_two_chunks_is_read_whole(
    adapter: FeishuAdapter, http: TestClient[Any, Any], clock: ManualClock, recorder: Recorder
) -> None:
    payload = message_event("oc_1", "ou_alice", "/list")
    body, headers = signed_request(payload, clock=clock)

    async def two_chunks() -> Any:
        yield body[:100]
        await asyncio.sleep(0.2)  # a real pause on the socket between the two halves
        yield body[100:]

    status, _ = await post(http, two_chunks(), headers)  # type: ignore[arg-type]
    assert status == 200
    await adapter.idle()
    assert [e.message_id for e in recorder.events] == [payload["header"]["event_id"]]


DEEP = b"[" * 30_000 + b"]" * 30_000  # 60 KB of nesting: more than the parser's recursion limit


async def test_deeply_nested_json_is_refused_not_a_server_error(
    make_adapter: Callable[..., FeishuAdapter], clock: ManualClock, recorder: Recorder
) -> None:
    signed_mode = make_adapter(max_body_bytes=256 * 1024)
    token_mode = make_adapter(max_body_bytes=256 * 1024, encrypt_key="")
    now = str(int(clock.now().timestamp()))
    for adapter in (signed_mode, token_mode):
        http = await serve(adapter)
        try:
            # unsigned raw nesting: refused without a 500
            assert (await post(http, DEEP, {"X-Lark-Request-Timestamp": now}))[0] == 400
            if adapter is signed_mode:
                # a forged signature is refused before the body is parsed at all
                forged = {"X-Lark-Request-Timestamp": now, "X-Lark-Request-Nonce": "n", "X-Lark-Signature": "00"}
                assert (await post(http, DEEP, forged))[0] == 401
                # properly signed and encrypted nesting: the decrypted payload is refused
                body, headers = signed_request(DEEP, clock=clock)
                assert (await post(http, body, headers))[0] == 400
            await adapter.idle()
        finally:
            await http.close()
            await adapter.stop()
    assert recorder.events == []


async def test_identical_replies_to_two_clicks_are_both_posted(
    adapter: FeishuAdapter, http: TestClient[Any, Any], clock: ManualClock, recorder: Recorder, standin: FeishuStandIn
) -> None:
    def same_note(event: InboundEvent) -> tuple[OutboundMessage, ...]:
        update = OutboundMessage("feishu", event.chat_id, "风险 #3", updates_card=True, toast="好", reply_handle={})
        return update, OutboundMessage("feishu", event.chat_id, "提醒已暂停", reply_handle=event.reply_handle)

    recorder.answer = same_note
    for event_id in ("cb_click_one", "cb_click_two"):
        payload = card_event("oc_1", "ou_bob", Button("snooze", 3).to_value(), event_id=event_id)
        body, headers = signed_request(payload, clock=clock)
        status, answer = await post(http, body, headers)
        assert status == 200 and answer["toast"]["content"] == "好"
        await adapter.idle()
    sent = standin.sent_to("oc_1")
    assert [s.uuid for s in sent] == ["cb_click_one:1", "cb_click_two:1"]
    assert len({s.message_id for s in sent}) == 2  # Feishu posted both, not one


async def test_token_mode_checks_the_request_timestamp(
    make_adapter: Callable[..., FeishuAdapter], recorder: Recorder, clock: ManualClock
) -> None:
    adapter = make_adapter(encrypt_key="")
    http = await serve(adapter)
    now = int(clock.now().timestamp())
    try:
        cases = [
            ({}, 401),  # no timestamp at all: the window cannot be checked
            ({"X-Lark-Request-Timestamp": str(now - 3600)}, 401),  # stale
            ({"X-Lark-Request-Timestamp": "9" * 5000}, 400),  # nonsense
            ({"X-Lark-Request-Timestamp": str(now)}, 200),
        ]
        for headers, status in cases:
            payload = message_event("oc_1", "ou_alice", "/help")
            assert (await post(http, json.dumps(payload).encode(), headers))[0] == status, headers
        await adapter.idle()
        assert len(recorder.events) == 1
    finally:
        await http.close()
        await adapter.stop()
