"""Likelihood × impact: logged with /risk, re-assessed with /assess, shown in /show, the board and the export."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from openpyxl import load_workbook
from sqlmodel import select

from hubao.console import ConsoleSession
from hubao.handlers.assessment import Assessment, AssessmentError, take_assessment
from hubao.handlers.export import export_bytes
from hubao.storage import repo
from hubao.storage.models import Risk, RiskEvent


async def _risks(console: ConsoleSession) -> list[Risk]:
    async with console.app.db.transaction() as session:
        return list((await session.exec(select(Risk).order_by(Risk.number))).all())


async def _events(console: ConsoleSession, kind: str) -> list[RiskEvent]:
    async with console.app.db.transaction() as session:
        return list((await session.exec(select(RiskEvent).where(RiskEvent.kind == kind))).all())


async def test_a_risk_logged_with_likelihood_and_impact_gets_the_level_of_the_matrix(console: ConsoleSession) -> None:
    blocks = await console.say("alice", "/risk 仓库漏水 可能性:4 影响:5")
    assert "#1【高】仓库漏水" in blocks[0]
    await console.say("alice", "/risk 合同未盖章 P2 I4")
    await console.say("alice", "/risk 打印机缺纸 likelihood=1 impact=3")
    await console.say("alice", "/risk 门禁卡 可能性：3 影响：3")
    risks = await _risks(console)
    assert [(r.content, r.likelihood, r.impact, r.level) for r in risks] == [
        ("仓库漏水", 4, 5, "high"),
        ("合同未盖章", 2, 4, "medium"),
        ("打印机缺纸", 1, 3, "low"),
        ("门禁卡", 3, 3, "medium"),
    ]
    (created, *_) = await _events(console, "created")
    assert (created.data["likelihood"], created.data["impact"]) == (4, 5)


async def test_a_level_given_with_the_assessment_wins(console: ConsoleSession) -> None:
    await console.say("alice", "/risk 机房温度偏高 P5 I5 !低")
    (risk,) = await _risks(console)
    assert (risk.likelihood, risk.impact, risk.level) == (5, 5, "low")


async def test_a_lone_p_number_in_a_title_stays_text(console: ConsoleSession) -> None:
    await console.say("alice", "/risk 线上 P1 故障复盘未完成")
    (risk,) = await _risks(console)
    assert (risk.content, risk.likelihood, risk.impact, risk.level) == ("线上 P1 故障复盘未完成", None, None, "medium")


async def test_bad_assessments_are_refused_and_nothing_is_logged(console: ConsoleSession) -> None:
    blocks = await console.say("alice", "/risk 漏水 可能性:7 影响:5")
    assert "可能性和影响都是 1 到 5 分" in blocks[0]
    blocks = await console.say("alice", "/risk 漏水 可能性:4")
    assert "可能性和影响都要写" in blocks[0]
    blocks = await console.say("alice", "/risk 漏水 P0 I3")
    assert "1 到 5" in blocks[0]
    blocks = await console.say("alice", "/risk 漏水 影响:2 影响:3 可能性:1")
    assert "写了两次" in blocks[0]
    blocks = await console.say("alice", "/risk 漏水 likelihood=x impact=2")
    assert "1 到 5" in blocks[0]
    assert await _risks(console) == []


def test_the_parser_reads_every_written_form() -> None:
    assert take_assessment(("a", "P4I5", "b")) == (Assessment(4, 5), ("a", "b"))
    assert take_assessment(("impact=2", "x", "LIKELIHOOD=3")) == (Assessment(3, 2), ("x",))
    assert take_assessment(("i3", "p2")) == (Assessment(2, 3), ())
    assert take_assessment(("I3",)) == (None, ("I3",))
    for bad in (("可能性:6", "影响:1"), ("P9", "I1"), ("可能性:", "影响:1")):
        try:
            take_assessment(bad)
        except AssessmentError:
            continue
        raise AssertionError(f"{bad} accepted")


async def test_assess_reassesses_later_and_the_timeline_records_it(console: ConsoleSession) -> None:
    await console.say("alice", "/risk 供应商延迟 @bob")
    console.clock.advance(minutes=5)
    blocks = await console.say("bob", "/assess #1 P3 I4")
    assert "#1 已重新评估：可能性 3 × 影响 4 = 12 → 中" in blocks[0]
    console.clock.advance(minutes=5)
    await console.say("alice", "/评估风险 #1 可能性:5 影响:4")
    (risk,) = await _risks(console)
    assert (risk.likelihood, risk.impact, risk.level) == (5, 4, "high")
    first, second = await _events(console, "assessed")
    assert first.actor_id == "console:bob" and first.data["before"] == {"likelihood": None, "impact": None,
                                                                        "level": "medium"}
    assert second.data["before"] == {"likelihood": 3, "impact": 4, "level": "medium"}
    (show,) = await console.say("alice", "/show #1")
    assert "评估：可能性 5 × 影响 4 = 20" in show
    assert "bob 评估：可能性 3 × 影响 4 = 12 → 中" in show
    assert "alice 评估：可能性 5 × 影响 4 = 20 → 高" in show


async def test_assess_is_for_the_people_of_the_risk_and_not_for_resolved_ones(console: ConsoleSession) -> None:
    await console.say("alice", "/risk 供应商延迟 @bob")
    blocks = await console.say("carol", "/assess #1 P3 I4")
    assert "无权执行" in blocks[0]
    blocks = await console.say("bob", "/assess #1 P3")
    assert "可能性和影响都要写" in blocks[0]
    blocks = await console.say("bob", "/assess #1 P3 I4 多余的话")
    assert "多余的话" in blocks[0]
    blocks = await console.say("bob", "/assess #9 P3 I4")
    assert "没有风险 #9" in blocks[0]
    await console.say("bob", "/resolve #1")
    blocks = await console.say("bob", "/assess #1 P3 I4")
    assert "#1 已经解决了" in blocks[0]
    assert await _events(console, "assessed") == []


async def test_a_configured_matrix_decides_the_level(make_console: Any) -> None:
    matrix = ["LLLLM", "LLLMM", "LLMMH", "LMMHH", "MMHHH"]
    console: ConsoleSession = await make_console(admins=("root",), **{"assessment.matrix": matrix})
    await console.say("alice", "/risk 一 P1 I5")
    await console.say("alice", "/risk 二 P3 I5")
    await console.say("alice", "/risk 三 P2 I3")
    assert [r.level for r in await _risks(console)] == ["medium", "high", "low"]


async def test_the_chat_board_and_the_export_show_the_assessment(console: ConsoleSession) -> None:
    await console.say("alice", "/risk 仓库漏水 可能性:4 影响:5")
    await console.say("alice", "/risk 没评估的")
    (board,) = await console.say("alice", "/list")
    assert "#1【高 4×5】仓库漏水" in board and "#2【中】没评估的" in board
    async with console.app.db.transaction() as session:
        group = await repo.get_group(session, "console", "demo")
        assert group is not None
        day = console.clock.now().date()
        body = await export_bytes(session, group, console.app.config, date(day.year, 1, 1), day, "xlsx",
                                  console.clock.now())  # fmt: skip
    sheet = load_workbook(io.BytesIO(body))["risks"]
    rows = [{h.value: c.value for h, c in zip(sheet[1], row, strict=True)} for row in sheet.iter_rows(min_row=2)]
    assert [(r["likelihood"], r["impact"], r["score"]) for r in rows] == [(4, 5, 20), (None, None, None)]
