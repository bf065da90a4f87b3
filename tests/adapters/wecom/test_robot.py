"""Proactive sends through the group robot webhook: pings, limits, error codes, no double posts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from hubao.adapters.wecom.adapter import WeComAdapter
from hubao.bot.adapter import DeliveryError
from hubao.bot.clock import ManualClock
from hubao.bot.events import Format, OutboundMessage, User
from tests.adapters.wecom.standin import WeComStandIn

ZHANG = User("wecom:zhangsan", "张三")


@pytest.fixture
def bot(make_adapter: Any) -> WeComAdapter:
    return make_adapter(transport="http")  # HTTP AI bot: proactive messages can only go through the robot


def _msg(text: str = "风险 #1 超时未确认", **kw: Any) -> OutboundMessage:
    return OutboundMessage(platform="wecom", chat_id="wrGroup1", text=text, **kw)


async def test_escalation_pings_with_mentioned_list(bot: WeComAdapter, standin: WeComStandIn) -> None:
    await bot.send(_msg(mentions=(ZHANG,), mention_all=True))
    assert standin.robot_to("wrGroup1") == [
        {"msgtype": "text", "text": {"content": "风险 #1 超时未确认", "mentioned_list": ["zhangsan", "@all"]}}
    ]


async def test_markdown_digest_then_a_separate_ping(bot: WeComAdapter, standin: WeComStandIn) -> None:
    await bot.send(_msg("**新增** 3", title="本周互保周报", format=Format.MARKDOWN, mentions=(ZHANG,)))
    first, second = standin.robot_to("wrGroup1")
    assert first == {"msgtype": "markdown", "markdown": {"content": "**本周互保周报**\n**新增** 3"}}
    assert second["text"] == {"content": "本周互保周报", "mentioned_list": ["zhangsan"]}


async def test_text_over_2048_bytes_is_split(bot: WeComAdapter, standin: WeComStandIn) -> None:
    await bot.send(_msg("\n".join(f"风险 #{i} 描述描述描述描述描述" for i in range(200))))
    sent = standin.robot_to("wrGroup1")
    assert len(sent) > 1 and standin.robot_refused == []
    assert all(len(b["text"]["content"].encode()) <= 2048 for b in sent)


async def test_twenty_a_minute_then_retryable_with_the_wait(
    bot: WeComAdapter, standin: WeComStandIn, clock: ManualClock
) -> None:
    for i in range(20):
        await bot.send(_msg(f"第 {i} 条"))
        clock.advance(seconds=1)
    with pytest.raises(DeliveryError) as info:
        await bot.send(_msg("第 21 条"))
    assert info.value.retryable and info.value.retry_after == pytest.approx(40.0)
    assert standin.robot_refused == []  # refused here, before WeCom had to say 45009
    clock.advance(seconds=41)
    await bot.send(_msg("第 21 条"))
    assert len(standin.robot_to("wrGroup1")) == 21


async def test_errcode_45009_is_retryable_with_retry_after(
    make_adapter: Any, standin: WeComStandIn, clock: ManualClock
) -> None:
    bot = make_adapter(transport="http", webhook_rate=100)  # our own window off: WeCom's limit answers
    for i in range(20):
        await bot.send(_msg(f"{i}"))
    with pytest.raises(DeliveryError) as info:
        await bot.send(_msg("too many"))
    assert info.value.retryable and info.value.retry_after == 60
    assert "45009" in str(info.value)
    assert [code for code, _ in standin.robot_refused] == [45009]


async def test_a_retry_after_a_partial_failure_does_not_double_post(
    make_adapter: Any, standin: WeComStandIn, clock: ManualClock
) -> None:
    standin.rate = 1  # WeCom accepts the markdown, refuses the ping with 45009
    bot = make_adapter(transport="http", webhook_rate=100)
    message = _msg("周报", format=Format.MARKDOWN, mentions=(ZHANG,))
    with pytest.raises(DeliveryError):
        await bot.send(message)
    clock.advance(minutes=1)
    await bot.send(message)  # the outbox retries the same message
    kinds = [b["msgtype"] for b in standin.robot_to("wrGroup1")]
    assert kinds == ["markdown", "text"]
    clock.advance(minutes=1)
    standin.rate = 20
    await bot.send(message)  # sent in full before: an identical later message is a new message
    assert len(standin.robot_to("wrGroup1")) == 4


async def test_unknown_key_is_not_retryable_and_never_leaks(
    make_adapter: Any, standin: WeComStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    bot = make_adapter(transport="http", webhook_keys={"wrGroup1": "revoked-key"})
    with pytest.raises(DeliveryError) as info:
        await bot.send(_msg())
    assert not info.value.retryable and "93000" in str(info.value)
    assert "revoked-key" not in str(info.value)
    assert not any("revoked-key" in r.getMessage() for r in caplog.records)


async def test_unreachable_robot_is_retryable(make_adapter: Any) -> None:
    bot = make_adapter(transport="http", api_base="http://127.0.0.1:9", http_timeout=1.0)
    with pytest.raises(DeliveryError) as info:
        await bot.send(_msg())
    assert info.value.retryable and "127.0.0.1" not in str(info.value)


async def test_reply_with_mentions_pings_through_the_robot(
    bot: WeComAdapter, standin: WeComStandIn, clock: ManualClock
) -> None:
    handle = {
        "transport": "http",
        "at": clock.now().isoformat(),
        "chat_id": "wrGroup1",
        "response_url": standin.new_response_url(),
    }
    await bot.send(_msg("已指派给 张三", mentions=(ZHANG,), reply_handle=handle))
    assert standin.responses == [{"msgtype": "markdown", "markdown": {"content": "已指派给 张三"}}]
    assert standin.robot_to("wrGroup1") == [
        {"msgtype": "text", "text": {"content": "已指派给 张三", "mentioned_list": ["zhangsan"]}}
    ]
    clock.advance(timedelta(hours=2))


async def test_doctor_names_the_chat_of_an_unreachable_robot(make_adapter: Any) -> None:
    bot = make_adapter(transport="http", api_base="http://127.0.0.1:9", webhook_keys={"wrGroup1": "robot-key-1"})
    problems = await bot.check()
    [robot] = [p for p in problems if "group robot" in p]
    assert "wrGroup1" in robot and "robot-key-1" not in robot
