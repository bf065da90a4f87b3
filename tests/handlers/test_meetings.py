"""Meetings as a group runs them: start, record, end (or auto-close), the digest, tracked actions."""

from __future__ import annotations

from typing import Any

from hubao.console import ConsoleSession
from hubao.storage.models import Meeting, MeetingItem, Risk, Timer
from tests.handlers.console_text import (
    assert_renders_on_every_platform,
    block,
    dingtalk_hard_breaks,
    last_message,
    rows,
)


async def _group(console: ConsoleSession) -> None:
    for name in ("alice", "bob", "carol", "dave"):  # alice speaks first: she leads
        await console.say(name, "在")


async def test_scripted_meeting_posts_the_digest_and_actions_become_tracked_risks(console: ConsoleSession) -> None:
    await _group(console)
    (started,) = await console.say("alice", "/meeting start 周一例会")
    assert started.startswith("bot: 例会开始：周一例会")
    assert await console.say("bob", "/纪要 上周发布顺利") == ["bot: 已记录纪要（第1条）。"]
    assert await console.say("carol", "/决议 周五前完成压测") == ["bot: 已记录决议（第1条）。"]
    (action,) = await console.say("bob", "/待办 补充监控告警 @carol due:明天18:00")
    assert action.startswith("bot: @carol 会议待办（第1条）：\n  已登记风险提醒。\n  #1【中】补充监控告警")
    assert "11-24 18:00 前解决" in action
    await console.advance("45m")
    await console.say("carol", "/meeting action 整理压测报告")
    (digest,) = await console.say("alice", "/meeting end")
    assert digest == block(
        "例会纪要 · 周一例会",
        "时间：11-23 09:00 — 09:45（45分钟）",
        "参会：alice、bob、carol",  # dave said nothing to the meeting
        "",
        "**纪要**",
        "1. 上周发布顺利（bob）",
        "",
        "**决议**",
        "1. 周五前完成压测（carol）",
        "",
        "**待办**",
        "1. #1 补充监控告警 · 负责人 carol · 截止 11-24 18:00",
        "2. #2 整理压测报告 · 负责人 carol · 截止 11-24 09:45",
    )
    risks = sorted(await rows(console, Risk), key=lambda r: r.number)
    assert [(r.number, r.source, r.owner_id, r.reporter_id) for r in risks] == [
        (1, "meeting", "console:carol", "console:bob"),
        (2, "meeting", "console:carol", "console:carol"),
    ]
    items = await rows(console, MeetingItem)
    assert [(i.kind, i.risk_id) for i in items] == [("note", None), ("decision", None), ("action", risks[0].id),
                                                    ("action", risks[1].id)]  # fmt: skip
    # the actions run on their own clocks: #1 was due an answer at 10:00
    pings = await console.advance("16m")
    assert any(p.startswith("bot: @carol") and "#1【中】补充监控告警" in p for p in pings)


async def test_meeting_left_open_is_closed_and_posted_after_the_configured_time(make_console: Any) -> None:
    console: ConsoleSession = await make_console(**{"meetings.auto_close": "2h"})
    await _group(console)
    (started,) = await console.say("alice", "/例会 开始")
    assert "2h 后未结束将自动结束" in started
    await console.say("bob", "/纪要 讨论了值班表")
    assert not [b for b in await console.advance("119m") if "例会纪要" in b]
    (digest,) = [b for b in await console.advance("1m") if "例会纪要" in b]
    assert digest.startswith("bot: 例会纪要 · 互保演示组 例会 11-23\n  时间：11-23 09:00 — 11:00（2小时）")
    assert "（超过 2h 未结束，已自动结束）" in digest
    assert "参会：alice、bob" in digest and "1. 讨论了值班表（bob）" in digest
    assert await console.say("alice", "/meeting end") == [
        "bot: 当前没有进行中的例会。组长可发送 /meeting start [标题] 开始。"
    ]
    (meeting,) = await rows(console, Meeting)
    assert meeting.ended_by == "system" and meeting.open_slot is None
    assert [t for t in await rows(console, Timer) if t.kind == "meeting.close"] == []  # the timer fired once


async def test_ending_by_hand_cancels_the_automatic_close(console: ConsoleSession) -> None:
    await _group(console)
    await console.say("alice", "/meeting start")
    await console.say("alice", "/meeting end")
    assert [t for t in await rows(console, Timer) if t.kind == "meeting.close"] == []
    assert not [b for b in await console.advance("4h") if "例会纪要" in b]


async def test_only_the_leader_starts_and_ends_and_anyone_records(console: ConsoleSession) -> None:
    await _group(console)
    refused = "bot: 无权执行：此命令仅限组长、管理员。"
    assert await console.say("bob", "/meeting start") == [refused]
    assert await console.say("bob", "/纪要 没开会也想记") == [
        "bot: 当前没有进行中的例会。组长可发送 /meeting start [标题] 开始。"
    ]
    await console.say("alice", "/meeting start 站会")
    (again,) = await console.say("alice", "/meeting start 又一个")
    assert again == "bot: 已有进行中的例会：站会（11-23 09:00 开始）。请先 /meeting end。"
    assert await console.say("dave", "/meeting end") == [refused]
    assert await console.say("root", "/meeting decision 管理员也能记录") == ["bot: 已记录决议（第1条）。"]
    (digest,) = await console.say("root", "/meeting end")  # admins may do anything
    assert "参会：alice、root" in digest
    assert len(await rows(console, Meeting)) == 1


async def test_bad_meeting_input_gets_usage_and_records_nothing(console: ConsoleSession) -> None:
    await _group(console)
    await console.say("alice", "/meeting start")
    (bare,) = await console.say("bob", "/meeting")
    assert "用法：/meeting <start|note|decision|action|end> …" in bare
    (unknown,) = await console.say("bob", "/例会 聊聊")
    assert "/meeting start [标题]" in unknown and "/meeting end" in unknown
    (empty,) = await console.say("bob", "/纪要")
    assert "用法：/meeting note <text>" in empty
    (bad_due,) = await console.say("bob", "/待办 修复 @carol due:昨天晚上")
    assert "看不懂截止时间 昨天晚上" in bad_due
    (too_long,) = await console.say("bob", "/决议 " + "长" * 501)
    assert "内容太长" in too_long
    assert await rows(console, MeetingItem) == [] and await rows(console, Risk) == []


async def test_a_meeting_belongs_to_its_own_group(console: ConsoleSession) -> None:
    await _group(console)
    await console.say("alice", "/meeting start")
    await console.app.register_group("console", "other", "另一组")
    assert await console.say("erin", "/纪要 别的群", chat="other") == [
        "bot: 当前没有进行中的例会。组长可发送 /meeting start [标题] 开始。"
    ]
    assert await rows(console, MeetingItem) == []


async def _long_meeting(console: ConsoleSession) -> None:
    await _group(console)
    await console.say("alice", "/meeting start 季度复盘会")
    for i in range(12):
        await console.say("bob", f"/纪要 第{i}项：本季度库存周转与发货时效的回顾，以及改进建议的讨论")
        await console.say("carol", f"/决议 第{i}项：下周起执行新的盘点流程并由专人复核")
        await console.say("dave", f"/待办 第{i}项：整理盘点差异清单并同步给财务 @carol")
    await console.advance("50m")
    await console.say("alice", "/meeting end")


async def test_a_long_meeting_digest_fits_every_platform_in_one_message(console: ConsoleSession) -> None:
    await _long_meeting(console)
    assert_renders_on_every_platform(await last_message(console, "例会纪要"))


async def test_the_meeting_digest_keeps_its_line_breaks_on_dingtalk(console: ConsoleSession) -> None:
    await _group(console)
    await console.say("alice", "/meeting start 周一例会")
    await console.say("bob", "/纪要 上周发布顺利")
    await console.say("alice", "/meeting end")
    assert dingtalk_hard_breaks(await last_message(console, "例会纪要"))
