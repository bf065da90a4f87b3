"""Group goals and 目标达成率: achieved by their due time ÷ due in the period, replayed from the goal events."""

from __future__ import annotations

from hubao.console import ConsoleSession
from hubao.storage.models import RiskEvent
from tests.handlers.console_text import rows


async def _group(console: ConsoleSession) -> None:
    for name in ("alice", "bob", "carol"):  # alice speaks first: the leader
        await console.say(name, "在")


async def test_goal_achievement_rate_by_hand_in_stats_and_the_weekly_summary(console: ConsoleSession) -> None:
    await _group(console)  # Monday 2026-11-23 09:00
    (added,) = await console.say("alice", "/goal add 上线灰度发布 due:2026-11-25 @bob")
    assert added == "bot: @bob 已设定目标 G1：上线灰度发布\n  负责人：bob · 截止：11-25 23:59"
    await console.say("alice", "/目标 添加 完成回滚演练 due:2026-11-26 @carol")  # G2: never done
    await console.say("alice", "/goal add 清理告警规则 due:2026-11-27")  # G3: done late
    await console.say("alice", "/goal add 更新值班手册 due:2026-12-10")  # G4: due next month
    await console.say("alice", "/goal add 迁移旧项目 due:2026-11-24")  # G5: dropped before its due time
    await console.say("alice", "/goal add 复盘报告 due:2026-11-29")  # G6: done early
    await console.say("alice", "/goal add 补齐监控 due:2026-11-29")  # G7: still open, not yet due
    assert await console.say("alice", "/goal drop G5 项目下线") == ["bot: 已放弃目标 G5：迁移旧项目"]
    await console.advance("1d")  # Tue
    assert await console.say("bob", "/goal done G1 已全量") == ["bot: 🎯 目标 G1 已达成：上线灰度发布"]
    await console.advance("3d")  # Fri
    await console.say("carol", "/目标 达成 G6")
    await console.advance("1d")  # Sat 11-28 09:00
    (late,) = await console.say("carol", "/goal done G3")
    assert late == "bot: 目标 G3 已完成（晚于截止时间，不计入达成率）：清理告警规则"

    # Due this week with a known outcome: G1 (on time), G2 (missed), G3 (late), G6 (early) → 2 / 4.
    # Not counted: G4 (next month), G5 (dropped before due), G7 (due Sunday, still open).
    (stats,) = await console.say("bob", "/stats")
    assert "- 目标达成率：50%（按期达成 2 / 到期 4）" in stats
    (summary,) = [b for b in await console.say("bob", "/summary") if "周报" in b]
    assert "**小组目标**\n  - 目标达成率：50%（按期达成 2 / 到期 4）（上期 —）" in summary
    assert (
        "- 已过期 G2 完成回滚演练 · carol · 11-26 23:59\n"
        "  - 即将到期 G7 补齐监控 · 未指定 · 11-29 23:59\n"
        "  - 即将到期 G4 更新值班手册 · 未指定 · 12-10 23:59"
    ) in summary
    (listed,) = await console.say("carol", "/goal")
    assert listed.splitlines()[1:4] == [
        "  G2 完成回滚演练 · carol · 截止 11-26 23:59 · 已过期",
        "  G4 更新值班手册 · 未指定 · 截止 12-10 23:59 · 进行中",
        "  G7 补齐监控 · 未指定 · 截止 11-29 23:59 · 进行中",
    ]
    assert listed.endswith("目标达成率：50%（按期达成 2 / 到期 4） · 本季度")
    # Last week had no goals due; the week before it is empty too.
    (last,) = await console.say("bob", "/stats 上周")
    assert "- 目标达成率：—（按期达成 0 / 到期 0）" in last
    kinds = [e.kind for e in await rows(console, RiskEvent) if e.kind.startswith("goal.")]
    assert kinds.count("goal.added") == 7 and kinds.count("goal.done") == 3 and kinds.count("goal.dropped") == 1


async def test_who_may_set_goals_and_bad_input(console: ConsoleSession) -> None:
    await _group(console)
    (refused,) = await console.say("bob", "/goal add 偷偷加的目标")
    assert refused.startswith("bot: 无权执行")
    (empty,) = await console.say("alice", "/goal add")
    assert "用法" in empty or "/goal add <text>" in empty
    (bad_due,) = await console.say("alice", "/goal add 目标 due:昨天下午")
    assert "/goal add <text>" in bad_due
    assert await console.say("bob", "/goal") == ["bot: 还没有小组目标。组长可用 /goal add 设定。"]
    await console.say("alice", "/goal add 上线灰度发布")
    (no_number,) = await console.say("bob", "/goal done 上线")
    assert "请写目标编号" in no_number
    (missing,) = await console.say("bob", "/goal done G9")
    assert "没有目标 G9" in missing
    await console.say("bob", "/goal done G1")
    assert await console.say("bob", "/goal done G1") == ["bot: 目标 G1 已经是「已达成」。"]
    (refused,) = await console.say("bob", "/goal drop G1")
    assert refused.startswith("bot: 无权执行")
    (other,) = await console.say("bob", "/goal 删除全部")
    assert "/goal add" in other
