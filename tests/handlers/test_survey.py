"""The quarterly evaluation: answers by command (and buttons), anonymous aggregates by hand, the
leader's count of who has not answered, the reminder ping and the automatic close on the clock."""

from __future__ import annotations

from typing import Any

from hubao.console import ConsoleSession
from hubao.storage.models import RiskEvent, SurveyAnswer, Timer
from tests.handlers.console_text import block, rows

MEMBERS = ("alice", "bob", "carol", "dave", "erin")  # alice speaks first: the leader


async def _group(console: ConsoleSession) -> None:
    for name in MEMBERS:
        await console.say(name, "在")


async def test_members_answer_the_leader_sees_a_count_and_results_are_anonymous_averages(
    console: ConsoleSession,
) -> None:
    await _group(console)  # Monday 2026-11-23 09:00
    (posted,) = await console.say("alice", "/评估 开始")
    lines = posted.splitlines()
    assert lines[0] == "bot: @all 季度互保工作评估 · 2026 Q4 互保工作评估"
    assert "  点击卡片按钮，或发送 /survey answer 4 5 3 [意见]。截止 11-30 09:00 前可修改。" in lines
    assert lines[-1].startswith("  [责任 1 /survey answer S1 q1=1]  [责任 2 /survey answer S1 q1=2]")
    assert "[防控 5 /survey answer S1 q3=5]" in lines[-1]

    assert await console.say("bob", "/survey answer 4 5 3 沟通可以再快一点") == [
        "bot: 已收到一份答卷（匿名统计，11-30 09:00 前可修改）。"
    ]
    await console.say("carol", "/评估 回答 5 4 2")
    await console.say("dave", "/survey answer 2 2 2")
    assert await console.say("dave", "/survey answer 3 4 2 责任分工要更细") == [
        "bot: 已更新你的答卷（11-30 09:00 前可再次修改）。"
    ]
    assert await console.say("alice", "/survey") == [
        "bot: 评估进行中：2026 Q4 互保工作评估（截止 11-30 09:00）\n  已作答 3 人，未作答 2 人。"
    ]
    assert await console.say("bob", "/评估") == [
        "bot: 评估进行中：2026 Q4 互保工作评估（截止 11-30 09:00）\n  你已作答，截止前可修改。"
    ]
    assert len(await rows(console, SurveyAnswer)) == 3  # one per member, dave's changed

    # One day before closing, whoever has not answered is pinged (alice and erin).
    assert [b for b in await console.advance("6d") if "截止" in b] == [
        "bot: @alice @erin 评估「2026 Q4 互保工作评估」将于 11-30 09:00 截止，还没作答的同事请用卡片按钮或 "
        "/survey answer 4 5 3 作答。"
    ]
    # Seven days after the start it closes by itself. By hand: q1 4,5,3 → 4.0; q2 5,4,4 → 13/3 = 4.3;
    # q3 3,2,2 → 7/3 = 2.3; three of five answered; comments without names, in no order of answering.
    (results,) = [b for b in await console.advance("1d") if "评估结果" in b]
    assert results == block(
        "评估结果 · 2026 Q4 互保工作评估",
        "评估已到期自动结束。",
        "11-23 09:00 — 11-30 09:00 · 作答 3/5 人（匿名）",
        "- 责任是否清晰：平均 4.0（3 份）· 5分×1 4分×1 3分×1 2分×0 1分×0",
        "- 沟通是否高效：平均 4.3（3 份）· 5分×1 4分×2 3分×0 2分×0 1分×0",
        "- 风险防控是否有效：平均 2.3（3 份）· 5分×0 4分×0 3分×1 2分×2 1分×0",
        "",
        "**意见**（匿名）",
        "- 沟通可以再快一点",
        "- 责任分工要更细",
    )
    for name in MEMBERS:
        assert name not in results.split("\n", 1)[1]
    assert await console.say("erin", "/survey answer 5 5 5") == ["bot: 当前没有进行中的评估。"]
    (again,) = await console.say("erin", "/survey")
    assert again.splitlines()[1:] == results.splitlines()[2:]
    assert [t for t in await rows(console, Timer) if t.kind.startswith("survey.")] == []
    events = [e for e in await rows(console, RiskEvent) if e.kind.startswith("survey.")]
    assert [e.kind for e in events] == ["survey.started", *["survey.answered"] * 4, "survey.closed"]
    assert all("q1" not in e.data and 4 not in e.data.values() for e in events if e.kind == "survey.answered")


async def test_the_leader_ends_it_and_buttons_answer_one_question_at_a_time(console: ConsoleSession) -> None:
    await _group(console)
    await console.say("alice", "/survey start 第四季度评估")
    # A button stands for "/survey answer S1 q2=5": a partial answer counts for its question only.
    (typed,) = await console.say("bob", "/survey answer S1 q2=5")
    assert typed == "bot: 已收到一份答卷（匿名统计，11-30 09:00 前可修改）。"
    await console.say("carol", "/survey answer 1 1 1 全部不满意")
    await console.say("carol", "/survey answer q1=4")  # changes one score, keeps the rest and the comment
    (results,) = await console.say("alice", "/survey end")
    assert "作答 2/5 人（匿名）" in results
    assert "- 责任是否清晰：平均 4.0（1 份）· 5分×0 4分×1" in results
    assert "- 沟通是否高效：平均 3.0（2 份）· 5分×1 4分×0 3分×0 2分×0 1分×1" in results
    assert "- 风险防控是否有效：平均 1.0（1 份）" in results and "- 全部不满意" in results
    assert await console.say("bob", "/survey answer S1 q2=4") == ["bot: 当前没有进行中的评估。"]
    assert [t for t in await rows(console, Timer) if t.kind.startswith("survey.")] == []
    # A second survey: a stale button of the first one does not answer it.
    await console.say("alice", "/survey start")
    assert await console.say("bob", "/survey answer S1 q2=4") == ["bot: 当前没有进行中的评估。"]
    (thanks,) = await console.say("bob", "/survey answer S2 q2=4")
    assert thanks.startswith("bot: 已收到一份答卷")


async def test_survey_roles_and_bad_input(make_console: Any) -> None:
    console: ConsoleSession = await make_console(admins=("root",), **{"survey.auto_close": "3d"})
    await _group(console)
    refused = "bot: 无权执行：此命令仅限组长、管理员。"
    assert await console.say("bob", "/survey start") == [refused]
    assert await console.say("bob", "/survey") == ["bot: 本组还没有做过评估。组长可用 /survey start 发起。"]
    assert await console.say("bob", "/survey answer 4 5 3") == ["bot: 当前没有进行中的评估。"]
    assert await console.say("alice", "/survey end") == ["bot: 当前没有进行中的评估。"]
    (started,) = await console.say("root", "/survey start")  # an admin may start it
    assert "截止 11-26 09:00 前可修改" in started  # [survey] auto_close = 3d
    (again,) = await console.say("alice", "/survey start")
    assert again == "bot: 已有进行中的评估：2026 Q4 互保工作评估（截止 11-26 09:00）。"
    for bad in ("/survey answer 4 5", "/survey answer 4 6 3", "/survey answer 0 5 3", "/survey answer 四 五 三",
                "/survey answer q4=3", "/survey answer q1=9"):
        (reply,) = await console.say("bob", bad)
        assert "请为三项各写 1–5 分" in reply and "用法：/survey answer" in reply, (bad, reply)
    assert await console.say("bob", "/survey answer") == ["bot: 参数不对。用法：/survey answer <1-5 1-5 1-5> [comment]"]
    (long,) = await console.say("bob", "/survey answer 4 4 4 " + "长" * 301)
    assert "300" in long
    (extra,) = await console.say("bob", "/survey 结果给我")
    assert "/survey start [标题]" in extra
    assert await console.say("bob", "/survey end") == [refused]
    assert len(await rows(console, SurveyAnswer)) == 0
    (assess,) = await console.say("bob", "/评估风险 #1 P3 I4")  # the risk assessment keeps its own name
    assert "#1" in assess
