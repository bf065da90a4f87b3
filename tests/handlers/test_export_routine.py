"""The export's sheets of the rest of the routine: goals, the register, surveys (anonymous) and drills."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook

from hubao.console import ConsoleSession
from tests.handlers.test_export import _export


def _sheet(book: Any, name: str) -> list[dict[str, Any]]:
    sheet = book[name]
    header = [c.value for c in sheet[1]]
    return [dict(zip(header, [c.value for c in row], strict=True)) for row in sheet.iter_rows(min_row=2)]


async def test_goals_register_surveys_and_drills_sheets_cell_by_cell(make_console: Any) -> None:
    console: ConsoleSession = await make_console(admins=("root",))
    for name in ("alice", "bob", "carol"):  # Monday 2026-11-23 09:00; alice leads
        await console.say(name, "在")
    await console.say("alice", "/register add 机房断电 !高 触发:UPS 告警 应对:切换备用机房 @bob")
    await console.say("alice", "/register add 证书过期 触发:到期前7天 应对:续签")
    await console.say("alice", "/register remove R2")
    await console.say("carol", "/register trigger R1 三号机柜")  # risk #1
    await console.say("alice", "/goal add 全量备份校验 due:2026-11-25 @bob")
    await console.say("alice", "/goal add 密钥轮换 due:2026-11-26")
    await console.say("alice", "/survey start 四季度评估")
    await console.say("bob", "/survey answer 4 5 3")
    await console.say("carol", "/survey answer 2 3 4 希望多演练")
    await console.say("alice", "/survey end")
    await console.say("alice", "/incident drill 断网")
    await console.advance("30m")
    await console.say("alice", "/incident end 切换顺利")
    await console.say("carol", "/incident finding 缺少备用线路 @bob")  # risk #2
    await console.say("alice", "/incident start 真的断网")
    await console.say("alice", "/incident end")
    await console.advance("1d")
    await console.say("bob", "/goal done G1")  # Tuesday: before its due time
    await console.advance("3d")  # Friday 11-27 09:30, both goals past due

    book = load_workbook(io.BytesIO(await _export(console, "xlsx")))
    assert _sheet(book, "goals") == [
        {"number": 1, "text": "全量备份校验", "owner": "console:bob", "owner_name": "bob",
         "due_at": "2026-11-25 23:59:00+08:00", "status": "done", "closed_at": "2026-11-24 09:30:00+08:00",
         "due_in_period": True, "achieved_by_due": True},
        {"number": 2, "text": "密钥轮换", "owner": None, "owner_name": None, "due_at": "2026-11-26 23:59:00+08:00",
         "status": "open", "closed_at": None, "due_in_period": True, "achieved_by_due": False},
    ]  # fmt: skip
    metrics = {row["metric"]: row["value"] for row in _sheet(book, "metrics")}
    assert (metrics["goals_due"], metrics["goals_achieved_by_due"], metrics["goal_achievement_rate"]) == (2, 1, 0.5)
    assert _sheet(book, "register") == [
        {"number": 1, "name": "机房断电", "level": "high", "trigger": "UPS 告警", "response": "切换备用机房",
         "owner": "console:bob", "owner_name": "bob", "created_at": "2026-11-23 09:00:00+08:00",
         "reviewed_at": "2026-11-23 09:00:00+08:00", "removed_at": None, "triggered_in_period": 1},
        {"number": 2, "name": "证书过期", "level": "medium", "trigger": "到期前7天", "response": "续签",
         "owner": None, "owner_name": None, "created_at": "2026-11-23 09:00:00+08:00",
         "reviewed_at": "2026-11-23 09:00:00+08:00", "removed_at": "2026-11-23 09:00:00+08:00",
         "triggered_in_period": 0},
    ]  # fmt: skip
    (surveyed,) = _sheet(book, "surveys")
    assert {k: v for k, v in surveyed.items() if not k.startswith("q")} == {
        "number": 1, "title": "四季度评估", "started_at": "2026-11-23 09:00:00+08:00",
        "closed_at": "2026-11-23 09:00:00+08:00", "respondents": 2, "members": 3, "comments": 1,
    }  # fmt: skip
    # By hand: q1 4 and 2 → 3.0; q2 5 and 3 → 4.0; q3 3 and 4 → 3.5.
    assert [surveyed[f"q{q}_average"] for q in (1, 2, 3)] == [3, 4, 3.5]
    assert [surveyed[f"q1_score_{s}"] for s in range(1, 6)] == [0, 1, 0, 1, 0]
    assert "console:bob" not in str(surveyed) and "希望多演练" not in str(surveyed)  # anonymous, counts only
    assert _sheet(book, "drills") == [
        {"started_at": "2026-11-23 09:00:00+08:00", "ended_at": "2026-11-23 09:30:00+08:00", "scenario": "断网",
         "started_by": "console:alice", "started_by_name": "alice", "summary": "切换顺利", "findings": 1,
         "finding_risks": "#2"},
    ]  # fmt: skip
    risks = {row["number"]: row for row in _sheet(book, "risks")}
    assert (risks[1]["source"], risks[2]["source"]) == ("register", "drill")
