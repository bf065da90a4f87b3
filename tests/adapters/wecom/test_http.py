"""The AI bot's HTTP callback: URL verification, encrypted JSON, replies, card clicks, bad input."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from yarl import URL

from hubao.bot.adapter import DeliveryError, DispatchResult
from hubao.bot.clock import ManualClock
from hubao.bot.events import Button, InboundEvent, OutboundMessage
from tests.adapters.wecom.conftest import Recorder
from tests.adapters.wecom.standin import WeComStandIn, wx_encrypt, wx_signature


@pytest.fixture
async def bot(make_adapter: Any, serve_routes: Any) -> tuple[Any, str]:
    adapter = make_adapter(transport="http", max_body_bytes=8192, card_reply_timeout=1.0)
    url = await serve_routes(adapter)
    return adapter, url


def _secrets(standin: WeComStandIn) -> list[str]:
    return [standin.token, standin.aes_key, standin.secret, "robot-key-1"]


async def test_url_verification_answers_the_bare_plaintext(bot: tuple[Any, str], standin: WeComStandIn) -> None:
    _, url = bot
    echostr = wx_encrypt(standin.aes_key, "5927782489442352469", "")
    query = {**standin.signed_query(echostr), "echostr": echostr}
    async with aiohttp.ClientSession() as session, session.get(url, params=query) as response:
        assert response.status == 200
        assert await response.read() == b"5927782489442352469"


async def test_url_verification_survives_an_unencoded_plus(bot: tuple[Any, str], standin: WeComStandIn) -> None:
    _, url = bot
    echostr = ""
    while "+" not in echostr:
        echostr = wx_encrypt(standin.aes_key, "42", "")
    q = {**standin.signed_query(echostr), "echostr": echostr}
    raw = URL(url + "?" + "&".join(f"{k}={v}" for k, v in q.items()), encoded=True)
    async with aiohttp.ClientSession() as session, session.get(raw) as response:
        assert response.status == 200 and await response.text() == "42"


async def test_message_is_dispatched_and_answered_empty(
    bot: tuple[Any, str], standin: WeComStandIn, recorder: Recorder
) -> None:
    adapter, url = bot
    body = standin.message("@RiskBot /risk 仓库漏水 @李四", msgid="msg-1")
    response = await standin.post_callback(url, body)
    assert response.status == 200
    await adapter.idle()
    [event] = recorder.events
    assert event.text == "/risk 仓库漏水 @李四"
    assert event.message_id == "msg-1" and event.chat_id == "wrGroup1"
    assert event.reply_handle["response_url"] == body["response_url"]
    assert recorder.inline == [False]


async def test_reply_uses_response_url_once_then_the_group_robot(
    bot: tuple[Any, str], standin: WeComStandIn, recorder: Recorder
) -> None:
    adapter, url = bot
    await standin.post_callback(url, standin.message("@RiskBot /help"))
    await adapter.idle()
    [event] = recorder.events
    reply = OutboundMessage(platform="wecom", chat_id=event.chat_id, text="帮助", reply_handle=event.reply_handle)
    await adapter.send(reply)
    assert standin.responses == [{"msgtype": "markdown", "markdown": {"content": "帮助"}}]
    await adapter.send(reply.with_text("第二条"))
    assert standin.responses[1:] == []
    assert standin.robot_to("wrGroup1") == [{"msgtype": "text", "text": {"content": "第二条"}}]


async def test_expired_response_url_falls_back(
    bot: tuple[Any, str], standin: WeComStandIn, recorder: Recorder, clock: ManualClock
) -> None:
    adapter, url = bot
    await standin.post_callback(url, standin.message("@RiskBot /help", chat="wrNoRobot"))
    await adapter.idle()
    [event] = recorder.events
    clock.advance(minutes=61)
    reply = OutboundMessage(platform="wecom", chat_id="wrNoRobot", text="迟到", reply_handle=event.reply_handle)
    with pytest.raises(DeliveryError) as info:
        await adapter.send(reply)
    assert not info.value.retryable and "webhook_keys" in str(info.value)
    assert standin.responses == []


async def test_proactive_message_without_a_robot_is_not_retryable(bot: tuple[Any, str]) -> None:
    adapter, _ = bot
    with pytest.raises(DeliveryError) as info:
        await adapter.send(OutboundMessage(platform="wecom", chat_id="wrNoRobot", text="提醒"))
    assert not info.value.retryable and "webhook_keys" in str(info.value)


def _card_answer(event: InboundEvent) -> tuple[OutboundMessage, ...]:
    assert event.button is not None
    n = event.button.risk_number
    card = OutboundMessage(
        platform="wecom",
        chat_id=event.chat_id,
        text=f"风险 #{n} 已确认",
        buttons=(Button("resolve", n),),
        updates_card=True,
        toast="已确认",
        reply_handle=event.reply_handle,
    )
    note = OutboundMessage(
        platform="wecom", chat_id=event.chat_id, text=f"张三确认了 #{n}", reply_handle=event.reply_handle
    )
    return card, note


async def test_card_click_updates_the_card_in_the_passive_reply(
    bot: tuple[Any, str], standin: WeComStandIn, recorder: Recorder
) -> None:
    adapter, url = bot
    recorder.answer = _card_answer
    click = standin.click("hubao_ack_5", "hubao-5-t1", msgid="click-1")
    plain = json.dumps(click)
    encrypt = wx_encrypt(standin.aes_key, plain, "")
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, params=standin.signed_query(encrypt), json={"encrypt": encrypt}) as response,
    ):
        assert response.status == 200
        envelope = await response.json()
    update = standin.open_reply(envelope)
    assert update["response_type"] == "update_template_card"
    assert update["template_card"]["task_id"] == "hubao-5-t1"
    assert update["template_card"]["button_list"][0]["key"] == "hubao_resolve_5"
    [event] = recorder.events
    assert event.button == Button("ack", 5) and event.text == "/ack #5"
    assert recorder.inline == [True]
    await adapter.idle()
    assert standin.responses == [{"msgtype": "markdown", "markdown": {"content": "张三确认了 #5"}}]


async def test_slow_card_click_updates_through_response_url(
    make_adapter: Any, serve_routes: Any, standin: WeComStandIn, recorder: Recorder
) -> None:
    adapter = make_adapter(transport="http", card_reply_timeout=0.05)
    url = await serve_routes(adapter)
    gate = asyncio.Event()

    async def slow(event: InboundEvent, *, inline_replies: bool = False) -> Any:
        await gate.wait()
        return await recorder(event, inline_replies=inline_replies)

    adapter.context = type(adapter.context)(**{**adapter.context.__dict__, "dispatch": slow})
    recorder.answer = lambda event: _card_answer(event)[:1]
    response = await standin.post_callback(url, standin.click("hubao_ack_9", "hubao-9-t"))
    assert response.status == 200 and standin.responses == []
    gate.set()
    await adapter.idle()
    [update] = standin.responses
    assert update["response_type"] == "update_template_card"
    assert update["template_card"]["task_id"] == "hubao-9-t"


# ---- bad input: 4xx, nothing dispatched, no secret in the logs --------------------------------------


async def _post_raw(url: str, query: dict[str, str], data: bytes | str) -> int:
    async with aiohttp.ClientSession() as session, session.post(url, params=query, data=data) as response:
        return response.status


@pytest.mark.parametrize(
    "case",
    [
        "bad_signature",
        "wrong_receive_id",
        "stale",
        "not_json",
        "xml",
        "no_encrypt",
        "plain_not_json",
        "missing_query",
        "garbage_cipher",
        "oversized",
        "foreign_body",
    ],
)
async def test_bad_input_is_refused_with_4xx(
    case: str,
    bot: tuple[Any, str],
    standin: WeComStandIn,
    recorder: Recorder,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    adapter, url = bot
    caplog.set_level(logging.DEBUG)
    body = json.dumps(standin.message("@RiskBot /help"))
    encrypt = wx_encrypt(standin.aes_key, body, "")
    query = standin.signed_query(encrypt)
    data: str | bytes = json.dumps({"encrypt": encrypt})
    expected = 400
    if case == "bad_signature":
        query["msg_signature"] = wx_signature("other-token", query["timestamp"], query["nonce"], encrypt)
        expected = 403
    elif case == "wrong_receive_id":
        encrypt = wx_encrypt(standin.aes_key, body, "wwcorp123")
        query, data, expected = standin.signed_query(encrypt), json.dumps({"encrypt": encrypt}), 403
    elif case == "stale":
        query = standin.signed_query(encrypt, timestamp=int(clock.now().timestamp()) - 3600)
        expected = 403
    elif case == "not_json":
        data = "{not json"
    elif case == "xml":
        data = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    elif case == "no_encrypt":
        data = json.dumps({"msg": encrypt})
    elif case == "plain_not_json":
        encrypt = wx_encrypt(standin.aes_key, "<xml>hi</xml>", "")
        query, data = standin.signed_query(encrypt), json.dumps({"encrypt": encrypt})
    elif case == "missing_query":
        query = {}
    elif case == "garbage_cipher":
        encrypt = "QUJD" * 11
        query, data = standin.signed_query(encrypt), json.dumps({"encrypt": encrypt})
    elif case == "oversized":
        data = json.dumps({"encrypt": encrypt, "pad": "x" * 9000})
        expected = 413
    elif case == "foreign_body":
        encrypt = wx_encrypt(standin.aes_key, json.dumps({"msgtype": "text", "text": {"content": "/x"}}), "")
        query, data = standin.signed_query(encrypt), json.dumps({"encrypt": encrypt})
    assert await _post_raw(url, query, data) == expected
    await adapter.idle()
    assert recorder.events == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not any(secret in logged for secret in _secrets(standin))


async def test_bad_url_verification_is_refused(bot: tuple[Any, str], standin: WeComStandIn) -> None:
    _, url = bot
    echostr = wx_encrypt(standin.aes_key, "1", "")
    query = {**standin.signed_query(echostr), "echostr": echostr}
    query["msg_signature"] = "0" * 40
    async with aiohttp.ClientSession() as session, session.get(url, params=query) as response:
        assert response.status == 403
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 400


async def test_timestamp_window_is_configurable(
    make_adapter: Any, serve_routes: Any, standin: WeComStandIn, recorder: Recorder, clock: ManualClock
) -> None:
    adapter = make_adapter(transport="http", max_clock_skew=30)
    url = await serve_routes(adapter)
    old = int((clock.now() - timedelta(seconds=31)).timestamp())
    assert (await standin.post_callback(url, standin.message("/help"), timestamp=old)).status == 403
    ok = int((clock.now() - timedelta(seconds=29)).timestamp())
    assert (await standin.post_callback(url, standin.message("/help"), timestamp=ok)).status == 200
    await adapter.idle()
    assert len(recorder.events) == 1


async def test_check_reports_http_problems(make_adapter: Any, standin: WeComStandIn) -> None:
    adapter = make_adapter(
        transport="http", public_url="", webhook_keys={"wrGroup1": "robot-key-1", "wrOther": "stale-key"}
    )
    problems = await adapter.check()
    assert any("server.public_url" in p for p in problems)
    assert any("wrOther" in p and "93000" in p for p in problems)
    assert not any("wrGroup1" in p for p in problems)
    assert not any("stale-key" in p for p in problems)
    assert not any("webhook_keys" in p for p in problems)
    assert standin.robot == []  # probing does not post anything


async def test_check_warns_that_http_without_a_group_robot_cannot_escalate(make_adapter: Any) -> None:
    problems = await make_adapter(transport="http", public_url="https://bot.example.com", webhook_keys={}).check()
    assert any("webhook_keys" in p and "escalations" in p for p in problems)


async def test_callback_is_answered_only_once_the_command_is_processed(
    make_adapter: Any, serve_routes: Any, standin: WeComStandIn, recorder: Recorder
) -> None:
    adapter = make_adapter(transport="http")
    url = await serve_routes(adapter)
    gate, entered = asyncio.Event(), asyncio.Event()

    async def slow(event: InboundEvent, *, inline_replies: bool = False) -> Any:
        entered.set()
        await gate.wait()
        return await recorder(event, inline_replies=inline_replies)

    adapter.context = type(adapter.context)(**{**adapter.context.__dict__, "dispatch": slow})
    answer = asyncio.ensure_future(standin.post_callback(url, standin.message("@RiskBot /list")))
    await asyncio.wait_for(entered.wait(), 5)
    assert not answer.done() and recorder.events == []  # no answer while the command is not committed
    gate.set()
    response = await answer
    assert response.status == 200 and [e.text for e in recorder.events] == ["/list"]


async def test_a_command_that_could_not_be_stored_is_answered_503_so_wecom_sends_it_again(
    make_adapter: Any, serve_routes: Any, standin: WeComStandIn, recorder: Recorder
) -> None:
    adapter = make_adapter(transport="http")
    url = await serve_routes(adapter)
    outcomes = [DispatchResult(handled=False, recorded=False)]  # what the kernel says when the database fails

    async def database_down_once(event: InboundEvent, *, inline_replies: bool = False) -> DispatchResult:
        if outcomes:
            return outcomes.pop()
        return await recorder(event, inline_replies=inline_replies)

    adapter.context = type(adapter.context)(**{**adapter.context.__dict__, "dispatch": database_down_once})
    message = standin.message("@RiskBot /list", msgid="retried-1")
    assert (await standin.post_callback(url, message)).status == 503
    assert (await standin.post_callback(url, message)).status == 200
    assert [e.message_id for e in recorder.events] == ["retried-1"]


async def test_a_body_sent_in_two_chunks_is_read_whole(
    bot: tuple[Any, str], standin: WeComStandIn, recorder: Recorder
) -> None:
    adapter, url = bot
    plain = json.dumps(standin.message("@RiskBot /list", msgid="chunked-1"), ensure_ascii=False)
    encrypt = wx_encrypt(standin.aes_key, plain, standin.receive_id)
    data = json.dumps({"encrypt": encrypt}).encode()

    async def two_chunks() -> Any:
        yield data[:100]
        await asyncio.sleep(0.2)  # a real pause on the socket between the two halves
        yield data[100:]

    async with (
        aiohttp.ClientSession() as session,
        session.post(url, params=standin.signed_query(encrypt), data=two_chunks()) as response,
    ):
        assert response.status == 200, await response.text()
    await adapter.idle()
    assert [e.message_id for e in recorder.events] == ["chunked-1"]


DEEP = "[" * 30_000 + "]" * 30_000  # 60 KB of nesting: more than the parser's recursion limit


async def test_deeply_nested_json_is_refused_not_a_server_error(
    make_adapter: Any, serve_routes: Any, standin: WeComStandIn, recorder: Recorder
) -> None:
    adapter = make_adapter(transport="http", max_body_bytes=256 * 1024)
    url = await serve_routes(adapter)
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, params=standin.signed_query("x"), data=DEEP) as response,
    ):
        assert response.status == 400  # before any signature is checked
    response = await standin.post_callback(url, DEEP)  # signed and encrypted nesting
    assert response.status == 400
    await adapter.idle()
    assert recorder.events == []


async def test_an_absurdly_long_timestamp_is_refused(
    bot: tuple[Any, str], standin: WeComStandIn, recorder: Recorder
) -> None:
    adapter, url = bot
    huge = "9" * 5000  # int() refuses more than 4300 digits
    for ts in (huge, "1" * 13, "１７００００００００"):  # too long; full-width digits pass str.isdigit()
        query = {"msg_signature": "x", "timestamp": ts, "nonce": "n"}
        async with aiohttp.ClientSession() as session:
            async with session.get(url, params={**query, "echostr": "e"}) as response:
                assert response.status == 403, ts[:20]
            async with session.post(url, params=query, data=json.dumps({"encrypt": "e"})) as response:
                assert response.status == 403, ts[:20]
    await adapter.idle()
    assert recorder.events == []
