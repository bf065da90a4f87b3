"""The AI bot's long connection against the stand-in's /ws endpoint (real sockets, tiny intervals)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import pytest

from hubao.adapters.wecom.adapter import WeComAdapter
from hubao.bot.adapter import DeliveryError
from hubao.bot.clock import ManualClock
from hubao.bot.events import Button, InboundEvent, OutboundMessage, User
from tests.adapters.wecom.conftest import Recorder, until
from tests.adapters.wecom.standin import WeComStandIn


async def _online(adapter: WeComAdapter) -> None:
    assert adapter.connection is not None
    async with asyncio.timeout(3):
        await adapter.connection.online.wait()


@pytest.fixture
async def bot(make_adapter: Any, standin: WeComStandIn) -> WeComAdapter:
    adapter = make_adapter()
    await adapter.start()
    await _online(adapter)
    await standin.wait_subscribed()
    return adapter


async def test_subscribes_with_bot_id_and_secret_then_pings(bot: WeComAdapter, standin: WeComStandIn) -> None:
    [subscribe] = standin.sent("aibot_subscribe")
    assert subscribe["body"] == {"bot_id": "BOTID", "secret": "bot-secret"}
    assert subscribe["headers"]["req_id"].startswith("aibot_subscribe")
    pings = await standin.wait_frame("ping", 2)
    assert all(p["headers"]["req_id"].startswith("ping") for p in pings)
    assert len({p["headers"]["req_id"] for p in pings}) == len(pings)


async def test_message_frame_is_dispatched_and_the_reply_echoes_its_req_id(
    bot: WeComAdapter, standin: WeComStandIn, recorder: Recorder
) -> None:
    req_id = await standin.push(standin.message("@RiskBot /risk 服务器告警", msgid="m-ws-1"))
    await until(lambda: bool(recorder.events))
    await bot.idle()
    [event] = recorder.events
    assert event.text == "/risk 服务器告警" and event.message_id == "m-ws-1"
    assert event.reply_handle["req_id"] == req_id
    reply = OutboundMessage(platform="wecom", chat_id=event.chat_id, text="已登记 #1", reply_handle=event.reply_handle)
    await bot.send(reply)
    [respond] = standin.sent("aibot_respond_msg")
    assert respond["headers"]["req_id"] == req_id
    assert respond["body"]["msgtype"] == "stream"
    assert respond["body"]["stream"]["finish"] is True and respond["body"]["stream"]["content"] == "已登记 #1"
    # the req_id is spent: a second reply to the same message is sent proactively
    await bot.send(reply.with_text("补充"))
    [send] = standin.sent("aibot_send_msg")
    assert send["body"] == {"chatid": "wrGroup1", "msgtype": "markdown", "markdown": {"content": "补充"}}


async def test_stale_req_id_is_not_echoed(
    bot: WeComAdapter, standin: WeComStandIn, recorder: Recorder, clock: ManualClock
) -> None:
    await standin.push(standin.message("@RiskBot /help"))
    await until(lambda: bool(recorder.events))
    clock.advance(minutes=6)
    event = recorder.events[0]
    late = OutboundMessage(platform="wecom", chat_id=event.chat_id, text="晚了", reply_handle=event.reply_handle)
    await bot.send(late)
    assert standin.sent("aibot_respond_msg") == []
    assert standin.sent("aibot_send_msg")[0]["body"]["markdown"]["content"] == "晚了"


def _click_answer(event: InboundEvent) -> tuple[OutboundMessage, ...]:
    assert event.button is not None
    n = event.button.risk_number
    return (
        OutboundMessage(
            platform="wecom",
            chat_id=event.chat_id,
            text=f"风险 #{n}\n已解决",
            updates_card=True,
            reply_handle=event.reply_handle,
        ),
        OutboundMessage(
            platform="wecom", chat_id=event.chat_id, text=f"#{n} 已解决，感谢", reply_handle=event.reply_handle
        ),
    )


async def test_card_click_updates_the_card_echoing_req_id(
    bot: WeComAdapter, standin: WeComStandIn, recorder: Recorder
) -> None:
    recorder.answer = _click_answer
    req_id = await standin.push(standin.click("hubao_resolve_3", "hubao-3-x", msgid="click-ws"))
    [update] = await standin.wait_frame("aibot_respond_update_msg")
    assert update["headers"]["req_id"] == req_id
    assert update["body"]["response_type"] == "update_template_card"
    card = update["body"]["template_card"]
    assert card["task_id"] == "hubao-3-x" and card["main_title"]["title"] == "风险 #3"
    assert card["button_list"] == []
    [note] = await standin.wait_frame("aibot_send_msg")
    assert note["body"]["markdown"]["content"] == "#3 已解决，感谢"
    [event] = recorder.events
    assert event.button == Button("resolve", 3) and event.text == "/resolve #3" and recorder.inline == [True]


async def test_late_card_update_posts_a_new_card(
    bot: WeComAdapter, standin: WeComStandIn, recorder: Recorder, clock: ManualClock
) -> None:
    def slow(event: InboundEvent) -> tuple[OutboundMessage, ...]:
        clock.advance(seconds=6)  # past the 5 s window for aibot_respond_update_msg
        return (
            OutboundMessage(
                platform="wecom",
                chat_id=event.chat_id,
                text="风险 #4 已确认",
                buttons=(Button("resolve", 4),),
                updates_card=True,
                reply_handle=event.reply_handle,
            ),
        )

    recorder.answer = slow
    await standin.push(standin.click("hubao_ack_4", "hubao-4-x"))
    [send] = await standin.wait_frame("aibot_send_msg")
    assert standin.sent("aibot_respond_update_msg") == []
    assert send["body"]["msgtype"] == "template_card"
    assert send["body"]["template_card"]["button_list"][0]["key"] == "hubao_resolve_4"


async def test_proactive_card_goes_over_the_connection_and_the_ping_over_the_robot(
    bot: WeComAdapter, standin: WeComStandIn
) -> None:
    message = OutboundMessage(
        platform="wecom",
        chat_id="wrGroup1",
        text="风险 #8 超时未确认\n负责人 张三",
        buttons=(Button("ack", 8), Button("resolve", 8), Button("snooze", 8)),
        mentions=(User("wecom:zhangsan", "张三"),),
        mention_all=True,
    )
    await bot.send(message)
    [send] = standin.sent("aibot_send_msg")
    card = send["body"]["template_card"]
    assert send["body"]["chatid"] == "wrGroup1"
    assert [b["key"] for b in card["button_list"]] == ["hubao_ack_8", "hubao_resolve_8", "hubao_snooze_8"]
    assert standin.robot_to("wrGroup1") == [
        {"msgtype": "text", "text": {"content": "风险 #8 超时未确认", "mentioned_list": ["zhangsan", "@all"]}}
    ]


async def test_without_a_robot_mentions_are_written_inline(bot: WeComAdapter, standin: WeComStandIn) -> None:
    await bot.send(OutboundMessage(platform="wecom", chat_id="wrOther", text="提醒", mentions=(User("wecom:lisi"),)))
    [send] = standin.sent("aibot_send_msg")
    assert send["body"]["markdown"]["content"] == "提醒\n<@lisi>"


async def test_refused_send_maps_to_delivery_errors(bot: WeComAdapter, standin: WeComStandIn) -> None:
    standin.fail_next["aibot_send_msg"] = 45009
    with pytest.raises(DeliveryError) as info:
        await bot.send(OutboundMessage(platform="wecom", chat_id="wrOther", text="x"))
    assert info.value.retryable and info.value.retry_after == 60
    standin.fail_next["aibot_send_msg"] = 40008
    with pytest.raises(DeliveryError) as info:
        await bot.send(OutboundMessage(platform="wecom", chat_id="wrOther", text="x"))
    assert not info.value.retryable


async def test_reconnects_with_backoff_after_the_server_drops_it(bot: WeComAdapter, standin: WeComStandIn) -> None:
    first = bot.connection.generation if bot.connection else 0
    await standin.connections[0].ws.close()
    await standin.wait_subscribed(2)
    await _online(bot)
    assert bot.connection is not None and bot.connection.generation == first + 1


async def test_unanswered_pings_mean_a_dead_connection(bot: WeComAdapter, standin: WeComStandIn) -> None:
    standin.answer_pings = False
    await standin.wait_subscribed(2)  # two unanswered pings, then a fresh connection
    assert len(standin.sent("ping")) >= 2
    await _online(bot)
    assert bot.connection is not None and bot.connection.generation == 2


async def test_a_second_local_instance_stands_by_and_takes_over(make_adapter: Any, standin: WeComStandIn) -> None:
    first = make_adapter(instance="one")
    second = make_adapter(instance="two")
    await first.start()
    await _online(first)
    await second.start()
    await asyncio.sleep(0.4)  # more than a lease period: the second one must not subscribe
    assert standin.accepted == 1 and standin.subscribes == 1
    assert second.connection is not None and second.connection.state == "standby"
    with pytest.raises(DeliveryError) as info:
        await second.send(OutboundMessage(platform="wecom", chat_id="wrOther", text="x"))
    assert info.value.retryable
    await first.stop()
    await _online(second)
    assert standin.accepted == 2


async def test_displaced_by_another_connection_it_backs_off(
    make_adapter: Any, standin: WeComStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = make_adapter(kicked_backoff=0.6)
    await adapter.start()
    await _online(adapter)
    async with aiohttp.ClientSession() as session, session.ws_connect(standin.ws_url) as intruder:
        await intruder.send_json(
            {
                "cmd": "aibot_subscribe",
                "headers": {"req_id": "aibot_subscribe_x"},
                "body": {"bot_id": "BOTID", "secret": "bot-secret"},
            }
        )
        await intruder.receive_json()
        await until(lambda: adapter.connection is not None and adapter.connection.state == "kicked")
        await asyncio.sleep(0.2)
        assert standin.subscribes == 2  # no fight: the adapter does not subscribe again at once
        assert any("another connection took over" in r.getMessage() for r in caplog.records)
        await standin.wait_subscribed(3)  # ... only after kicked_backoff
    await _online(adapter)


async def test_refused_subscription_is_reported_without_the_secret(
    make_adapter: Any, standin: WeComStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = make_adapter(secret="wrong-secret-value")
    await adapter.start()
    await until(lambda: standin.subscribes >= 2)
    assert adapter.connection is not None and "40001" in adapter.connection.last_error
    assert not any("wrong-secret-value" in r.getMessage() for r in caplog.records)


async def test_stop_returns_promptly(bot: WeComAdapter) -> None:
    started = time.monotonic()
    await bot.stop()
    assert time.monotonic() - started < 1.0


async def test_check_probes_the_credentials(make_adapter: Any, standin: WeComStandIn) -> None:
    assert await make_adapter().check() == []
    problems = await make_adapter(secret="nope", instance="b").check()
    assert any("40001" in p for p in problems) and not any("nope" in p for p in problems)
    problems = await make_adapter(ws_url="ws://127.0.0.1:9/ws", instance="c").check()
    assert any("wecom.ws_url" in p for p in problems)
