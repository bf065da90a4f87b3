"""Emergency mode: prompts at exact minutes on the injected clock, leader pinged after silence, timeline."""

from __future__ import annotations

from typing import Any

from hubao.console import ConsoleSession
from hubao.storage.models import Incident, IncidentEntry, Risk, Timer
from tests.handlers.console_text import block, rows


def _prompts(blocks: list[str]) -> list[str]:
    return [b for b in blocks if "【应急进行中】" in b]


async def test_prompts_come_every_30_minutes_and_ping_the_leader_after_a_silent_interval(
    console: ConsoleSession,
) -> None:
    for name in ("alice", "bob", "carol"):
        await console.say(name, "在")
    (started,) = await console.say("alice", "/incident start 数据库主库宕机")
    assert started.startswith("bot: @all 【应急】数据库主库宕机\n  已进入应急模式：每 30m")

    assert _prompts(await console.advance("29m")) == []  # 09:29
    assert _prompts(await console.advance("1m")) == [  # 09:30 sharp, nobody said anything: @leader
        block("@alice 【应急进行中】数据库主库宕机",
               "已持续 30分钟，过去 30m 没有任何进展更新，请组长跟进并用 /incident update <进展> 同步。")
    ]  # fmt: skip
    await console.advance("10m")
    assert await console.say("bob", "/应急 进展 已切换到备库") == ["bot: 已记录进展（11-23 09:40）。"]
    assert _prompts(await console.advance("19m")) == []  # 09:59
    assert _prompts(await console.advance("1m")) == [  # 10:00, bob updated in the interval: no ping
        block("【应急进行中】数据库主库宕机", "已持续 1小时，请用 /incident update <进展> 同步最新进展。")
    ]
    assert _prompts(await console.advance("29m")) == []
    (silent,) = _prompts(await console.advance("1m"))  # 10:30, silent again
    assert silent.startswith("bot: @alice 【应急进行中】数据库主库宕机\n  已持续 1小时30分钟")
    prompts = [e for e in await rows(console, IncidentEntry) if e.kind == "prompt"]
    assert [(e.at.strftime("%H:%M"), e.data["silent"]) for e in prompts] == [
        ("01:30", True), ("02:00", False), ("02:30", True),  # UTC
    ]  # fmt: skip

    await console.advance("10m")
    (timeline,) = await console.say("alice", "/incident end 主库已恢复，复盘另行安排")
    assert timeline == block(
        "应急结束 · 数据库主库宕机",
        "11-23 09:00 — 11-23 10:40（共 1小时40分钟）",
        "总结：主库已恢复，复盘另行安排",
        "",
        "**时间线**",
        "- 11-23 09:00 alice 启动：数据库主库宕机",
        "- 11-23 09:30 系统 30m 无进展，已提醒组长",
        "- 11-23 09:40 bob 进展：已切换到备库",
        "- 11-23 10:30 系统 30m 无进展，已提醒组长",
        "- 11-23 10:40 alice 结束：主库已恢复，复盘另行安排",
    )
    assert _prompts(await console.advance("2h")) == []  # over: no more prompts
    assert [t for t in await rows(console, Timer) if t.kind == "incident.prompt"] == []


async def test_the_prompt_interval_is_configurable(make_console: Any) -> None:
    console: ConsoleSession = await make_console(**{"incidents.prompt_every": "10m"})
    await console.say("alice", "/应急 开始 支付回调失败")
    assert _prompts(await console.advance("9m")) == []
    assert len(_prompts(await console.advance("1m"))) == 1
    assert len(_prompts(await console.advance("20m"))) == 2


async def test_after_downtime_one_prompt_is_posted_and_the_rhythm_continues(console: ConsoleSession) -> None:
    await console.say("alice", "/incident start 机房断电")
    console.clock.advance(minutes=95)  # the bot was down from 09:00 to 10:35
    before = len(console.printed)
    await console.app.run_due()
    (late,) = _prompts(console.printed[before:])
    assert "已持续 1小时35分钟" in late  # posted late once, not three times; it tells the real duration
    assert len(_prompts(await console.advance("24m"))) == 0  # 10:59
    assert len(_prompts(await console.advance("1m"))) == 1  # 11:00, the next mark after the restart


async def test_who_may_run_an_incident_and_bad_input(console: ConsoleSession) -> None:
    for name in ("alice", "bob"):
        await console.say(name, "在")
    refused = "bot: 无权执行：此命令仅限组长、管理员。"
    assert await console.say("bob", "/incident start 我也想") == [refused]
    assert await console.say("bob", "/incident update 没有应急") == ["bot: 当前没有进行中的应急。"]
    assert await console.say("alice", "/incident end") == ["bot: 当前没有进行中的应急。"]
    (bare,) = await console.say("bob", "/应急")
    assert "用法：/incident <start|update|end> …" in bare
    (empty,) = await console.say("alice", "/incident start")
    assert "用法：/incident start <text>" in empty
    await console.say("alice", "/incident start 接口超时")
    (again,) = await console.say("alice", "/incident start 另一件事")
    assert again == "bot: 已有进行中的应急：接口超时（11-23 09:00 开始）。"
    assert await console.say("bob", "/incident end") == [refused]
    (timeline,) = await console.say("root", "/incident end")  # an admin may end it
    assert timeline.endswith("- 11-23 09:00 root 结束")
    assert len(await rows(console, Incident)) == 1


async def test_a_drill_runs_like_an_incident_and_its_findings_become_tracked_risks(console: ConsoleSession) -> None:
    for name in ("alice", "bob", "carol"):
        await console.say(name, "在")
    assert await console.say("bob", "/incident finding 没有演练") == [
        "bot: 本组还没有演练。组长可用 /incident drill <场景> 开始。"
    ]
    (started,) = await console.say("alice", "/incident start --drill 主库宕机切换备库")
    assert started.startswith("bot: @all 【演练】主库宕机切换备库\n  应急演练开始（不是真实事故）")
    (prompt,) = _prompts(await console.advance("30m"))  # the same 30-minute prompts, marked as a drill
    assert prompt.startswith("bot: @alice 【应急进行中】【演练】主库宕机切换备库")
    await console.say("bob", "/incident update 已切换")
    (timeline,) = await console.say("alice", "/incident end 切换用时 12 分钟")
    assert timeline.startswith("bot: 演练结束 · 主库宕机切换备库\n  11-23 09:00 — 11-23 09:30")
    assert timeline.endswith(
        "**复盘**：演练发现了哪些问题？请逐条用 /incident finding <问题> [@负责人] 记录，每条都会成为跟踪风险。"
    )
    (found,) = await console.say("carol", "/incident finding 切换脚本缺少权限 @bob")
    assert found.startswith(
        "bot: @bob 已记录演练「主库宕机切换备库」发现的问题：\n  已登记风险提醒。\n  #1【中】切换脚本缺少权限"
    )
    await console.say("carol", "/演练 问题 监控没有告警 !高")
    risks = await rows(console, Risk)
    assert [(r.number, r.source, r.owner_id, r.level) for r in risks] == [
        (1, "drill", "console:bob", "medium"), (2, "drill", "console:carol", "high"),
    ]  # fmt: skip
    (drill,) = await rows(console, Incident)
    assert drill.drill is True
    findings = [e for e in await rows(console, IncidentEntry) if e.kind == "finding"]
    assert [(e.text, e.data["risk"]) for e in findings] == [("切换脚本缺少权限", 1), ("监控没有告警", 2)]
    # A real incident afterwards is not a drill; the zh form starts drills too.
    await console.say("alice", "/应急 开始 真的宕机了")
    await console.say("alice", "/incident end")
    await console.say("alice", "/应急 演练 机房断电")
    assert [i.drill for i in await rows(console, Incident)] == [True, False, True]


async def test_drill_bad_input_and_roles(console: ConsoleSession) -> None:
    for name in ("alice", "bob"):
        await console.say(name, "在")
    (empty,) = await console.say("alice", "/incident start --drill")
    assert "请写演练场景" in empty
    (refused,) = await console.say("bob", "/incident drill 偷偷演练")
    assert refused.startswith("bot: 无权执行")
    await console.say("alice", "/incident drill 断网")
    (no_text,) = await console.say("bob", "/incident finding")
    assert "/incident finding <text>" in no_text
