"""due: and /snooze take deadlines as people write them; the console's clock is Monday 09:00 in Shanghai."""

from __future__ import annotations

from typing import Any

from hubao.console import ConsoleSession


async def test_a_risk_due_friday_is_due_at_the_end_of_friday_working_hours(console: ConsoleSession) -> None:
    await console.say("bob", "在")
    (block,) = await console.say("alice", "/risk 合同盖章 @bob due:周五")
    assert "11-27 18:00 前解决" in block
    (block,) = await console.say("alice", "/risk 发票 due:12月5日15:00")
    assert "12-05 15:00 前解决" in block
    (block,) = await console.say("alice", "/risk 对账 due:下周一上午10点")
    assert "11-30 10:00 前解决" in block


async def test_an_english_deadline_of_several_words_stays_out_of_the_risk_text(make_console: Any) -> None:
    console = await make_console(admins=("root",), **{"bot.locale": "en"})
    (block,) = await console.say("alice", "/risk sign the contract due:next monday")
    assert "#1 [medium] sign the contract\n" in block
    assert "resolve by 11-30 18:00" in block
    (block,) = await console.say("alice", "/risk invoice due:dec 5 15:00 #billing")
    assert "#2 [medium] invoice\n" in block
    assert "resolve by 12-05 15:00" in block and "Tags: #billing" in block


async def test_a_past_deadline_is_refused_with_the_moment_it_was_read_as(console: ConsoleSession) -> None:
    (block,) = await console.say("alice", "/risk 合同盖章 due:8点")
    assert "截止时间 8点 理解为 2026-11-23 周一 08:00，已经过去了" in block
    (block,) = await console.say("alice", "/risk 合同盖章 due:下周八")
    assert "看不懂截止时间 下周八，可以写：" in block
    (block,) = await console.say("alice", "/risk 合同盖章 due:2月30日")
    assert "不是真实的日期或钟点" in block
    assert "已登记" not in "".join(await console.say("alice", "/list"))


async def test_the_group_working_hours_end_the_day(console: ConsoleSession) -> None:
    await console.say("root", "/admin calendar workdays hours=09:30-17:30")
    (block,) = await console.say("alice", "/risk 报表 due:下班前")
    assert "11-23 17:30 前解决" in block


async def test_snoozing_until_a_weekday_wakes_at_the_start_of_work(console: ConsoleSession) -> None:
    await console.say("alice", "/risk 库存低")
    assert await console.say("alice", "/snooze #1 周三") == ["bot: #1 暂缓提醒至 11-25 09:00。"]
    assert await console.say("alice", "/snooze #1 明天下午3点") == ["bot: #1 暂缓提醒至 11-24 15:00。"]
    (block,) = await console.say("alice", "/snooze #1 上周五")
    assert block.startswith("bot: 参数不对（看不懂截止时间 上周五，")
