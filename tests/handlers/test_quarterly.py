"""The quarterly report: by command and posted at the start of the next quarter, every figure by hand."""

from __future__ import annotations

from typing import Any

from hubao.console import ConsoleSession
from hubao.storage.models import Timer
from tests.handlers.console_text import rows


async def _quarter_of_work(console: ConsoleSession) -> None:
    """Monday 2026-11-23 09:00 (Q4) onwards: three risks, two goals, a survey, a drill and an incident."""
    for name in ("alice", "bob", "carol"):  # alice speaks first: the leader
        await console.say(name, "在")
    await console.say("alice", "/risk 备份未校验 #数据安全 @bob")  # #1
    await console.say("bob", "/risk 密钥明文存放 !高 #数据安全")  # #2, bob's own
    await console.say("carol", "/risk 发布窗口冲突 !低 #发布 @alice")  # #3, never resolved
    await console.advance("10m")
    await console.say("bob", "/ack #1")  # response 10 min, in time
    await console.advance("50m")
    await console.say("bob", "/resolve #1 已校验")  # on time, alice and bob took part: collaborative
    await console.advance("1h")
    await console.say("bob", "/resolve #2 已迁移")  # response 2 h (resolving answers it), on time, bob alone
    await console.say("alice", "/goal add 备份全量校验 due:2026-11-24")  # G1, achieved
    await console.say("alice", "/goal add 密钥轮换 due:2026-11-24")  # G2, missed
    await console.say("bob", "/goal done G1")
    await console.say("alice", "/survey start 四季度评估")
    await console.say("bob", "/survey answer 4 5 3")
    await console.say("carol", "/survey answer 2 3 4 希望多演练")
    await console.say("alice", "/survey end")
    await console.say("alice", "/incident drill 机房断电")
    await console.advance("40m")
    await console.say("alice", "/incident end")
    await console.say("alice", "/incident start 支付超时")
    await console.say("alice", "/incident end")
    await console.advance("2d")  # Wednesday 11-25, both goals past due


EXPECTED_BODY = [
    "  ",
    "  **风险概况**",
    "  - 新增 3（+3） · 已解决 2（+2）",
    "  - 未解决 1（+1） · 逾期 1（+1）",
    "  ",
    "  **响应与解决**",
    # #1 answered after 10 min, #2 after 2 h: median (10 min + 2 h) / 2, p90 the 2nd of 2.
    "  - 响应时间：中位 1小时5分钟（上季度 —） · P90 2小时（上季度 —）",
    "  - 按时解决率：100%（上季度 —）",  # 2 of 2 resolved in their window
    "  - 协同解决率：50%（上季度 —）",  # #1 had two people, #2 one
    "  - 目标达成率：50%（按期达成 1 / 到期 2）（上期 —）",
    "  ",
    "  **风险提醒次数**",
    "  - alice 1 · bob 1 · carol 1",
    "  ",
    "  **风险级别与标签**",
    "  - 级别：高 1 · 中 1 · 低 1",
    "  - 最常见标签：#数据安全 2 · #发布 1",
    "  ",
    "  **季度互保工作评估**",
    "  「四季度评估」",
    "  11-23 11:00 — 11-23 11:00 · 作答 2/3 人（匿名）",
    "  - 责任是否清晰：平均 3.0（2 份）· 5分×0 4分×1 3分×0 2分×1 1分×0",  # (4 + 2) / 2
    "  - 沟通是否高效：平均 4.0（2 份）· 5分×1 4分×0 3分×1 2分×0 1分×0",  # (5 + 3) / 2
    "  - 风险防控是否有效：平均 3.5（2 份）· 5分×0 4分×1 3分×1 2分×0 1分×0",  # (3 + 4) / 2
    "  ",
    "  **应急与演练**",
    "  - 演练 1 次 · 真实应急 1 次（分开统计）",
    "  - 演练 11-23 11:00 机房断电（40分钟）",
    "  ",
    "  **积分排行**",
]


async def test_the_quarter_by_command_with_every_figure_by_hand(make_console: Any) -> None:
    console: ConsoleSession = await make_console(**{"digest.jitter": "30s"})
    await _quarter_of_work(console)
    (report,) = await console.say("carol", "/周报 季度")
    lines = report.splitlines()
    assert lines[0] == "bot: 季度互保报告 · 互保演示组 · 2026 Q4"
    assert lines[1] == "  10-01 — 12-31（截至 11-25 11:40，括号内为与上季度相比）"
    body = lines[2 : 2 + len(EXPECTED_BODY)]
    # Points: bob 1 (ack in time) + 3 (#1 resolved in time) + 2 (#2 reported, resolved) + 3 (#2 in time);
    # alice 2 (#1 reported, resolved).
    assert body == EXPECTED_BODY
    assert lines[2 + len(EXPECTED_BODY) :] == ["  1. bob 9分", "  2. alice 2分", "  🌟 互保之星：bob"]
    (last,) = await console.say("carol", "/summary quarter last")
    assert last.splitlines()[0] == "bot: 季度互保报告 · 互保演示组 · 2026 Q3"
    assert "  - 新增 0（持平） · 已解决 0（持平）" in last and "本季度没有进行评估" in last


async def test_the_report_of_the_quarter_just_ended_is_posted_when_the_next_begins(make_console: Any) -> None:
    console: ConsoleSession = await make_console(**{"digest.jitter": "30s"})
    await _quarter_of_work(console)
    (timer,) = [t for t in await rows(console, Timer) if t.kind == "quarterly"]
    assert timer.due_at.isoformat() == "2027-01-01T01:00:00+00:00"  # 09:00 Shanghai, the first day of Q1
    console.clock.advance(days=37, hours=-3, minutes=-40)  # 2026-12-31 18:00: not yet
    assert [b for b in await console.advance("1m") if "季度互保报告" in b] == []
    console.clock.advance(hours=14, minutes=59)
    posted = [b for b in await console.advance("1m") if "季度互保报告" in b]
    assert [p.splitlines()[:2] for p in posted] == [
        ["bot: 季度互保报告 · 互保演示组 · 2026 Q4", "  10-01 — 12-31（截至 01-01 00:00，括号内为与上季度相比）"]
    ]
    assert "- 演练 1 次 · 真实应急 1 次（分开统计）" in posted[0]
    (timer,) = [t for t in await rows(console, Timer) if t.kind == "quarterly"]
    assert timer.due_at.isoformat() == "2027-04-01T01:00:00+00:00"


async def test_bad_input(console: ConsoleSession) -> None:
    await console.say("alice", "在")
    (bad,) = await console.say("alice", "/summary quarter 明年")
    assert "请写 this（本季度）或 last（上季度）" in bad and "用法：/summary quarter [this|last]" in bad
