"""The weekly summary, /stats and /points on a fixed history (figures hand-computed in week_history)."""

from __future__ import annotations

import re
from datetime import timedelta

import aiohttp
from sqlmodel import select

from hubao.console import ConsoleSession
from hubao.handlers.intake import issue_token
from hubao.storage import repo
from hubao.storage.models import Member, Risk, RiskEvent
from tests.handlers.console_text import assert_renders_on_every_platform, block, dingtalk_hard_breaks, last_message
from tests.handlers.week_history import NOW, USERS, build, local, uid
from tests.harness import serve


async def _seed(console: ConsoleSession) -> None:
    """The demo group with alice (leader), bob, carol and dave, and the two-week history."""
    await console.say("alice", "大家好")
    async with console.app.db.transaction() as session:
        group = await repo.get_group(session, "console", "demo")
        assert group is not None and group.id is not None
        for name in USERS[1:]:
            session.add(Member(group_id=group.id, user_id=uid(name), name=name, joined_at=local(16, 8)))
        risks, events = build(group.id)
        numbers = {r.id: r.number for r in risks}
        for row in risks:
            row.id = None  # the database numbers rows itself
        session.add_all(risks)
        await session.flush()
        ids = {r.number: r.id for r in risks}
        for event in events:
            event.id, event.risk_id = None, ids[numbers[event.risk_id]]
            session.add(event)
        group.next_number = 9
        session.add(group)
    console.clock.set(NOW)


SUMMARY_ZH = block(
    "互保周报 · 互保演示组",
    "11-23 — 11-29（截至 11-29 12:00）",
    "",
    "**风险概况**",
    "- 新增 6（+4） · 已解决 5（+4）",
    "- 未解决 2（+1） · 逾期 2（+1）",
    "",
    "**响应与解决**",
    "- 响应时间：中位 30分钟（上周 12小时40分钟） · P90 2小时（上周 1天1小时）",
    "- 按时解决率：60%（上周 0%）",
    "- 协同解决率：60%（上周 100%）",
    "",
    "**逾期风险**",
    "- #4【中】风险4 · carol · 超期3天3小时",
    "- #7【中】风险7 · dave · 超期2天3小时",
    "",
    "**风险提醒次数**",
    "- alice 3 · carol 2 · bob 1 · dave 0",
    "",
    "**积分排行**",
    "1. bob 10分",
    "2. alice 9分",
    "3. carol 2分",
    "4. dave 2分",
    "🌟 互保之星：bob",
)


async def test_summary_shows_the_hand_computed_week_and_the_change_against_last_week(console: ConsoleSession) -> None:
    await _seed(console)
    assert await console.say("bob", "/summary") == [SUMMARY_ZH]
    assert await console.say("bob", "/周报 本周") == [SUMMARY_ZH]


async def test_summary_of_last_week(console: ConsoleSession) -> None:
    await _seed(console)
    (block,) = await console.say("carol", "/summary last-week")
    assert "11-16 — 11-22（截至 11-23 00:00）" in block
    assert "- 新增 2（+2） · 已解决 1（+1）" in block
    assert "- #6【中】风险6 · alice · 超期1天15小时" in block  # due Sat 09:00, week ended Sun 24:00
    assert "- carol 1 · alice 0 · bob 1 · dave 0" not in block
    assert "- bob 1 · carol 1 · alice 0 · dave 0" in block


async def test_summary_in_english(make_console: object) -> None:
    console: ConsoleSession = await make_console(**{"bot.locale": "en"})  # type: ignore[operator]
    await _seed(console)
    (block,) = await console.say("alice", "/summary")
    assert block.startswith("bot: Weekly summary · 互保演示组")
    assert "- Response time: median 30m (last week 12h 40m) · p90 2h (last week 1d 1h)" in block
    assert "- Resolved on time: 60% (last week 0%)" in block
    assert "🌟 互保之星 (star): bob" in block


async def test_summary_is_posted_on_the_group_schedule(console: ConsoleSession) -> None:
    await _seed(console)
    # The weekly post is Friday 17:00 plus a few minutes of jitter; from Sunday that is next Friday.
    blocks = await console.advance("5d6h")  # Sun 12:00 → Fri 12-04 18:00
    posts = [b for b in blocks if b.startswith("bot: 互保周报 · 互保演示组")]
    assert len(posts) == 1
    assert "11-30 — 12-06（截至 12-04 17:0" in posts[0]
    assert "**风险概况**" in posts[0] and "- 新增 0（−6） · 已解决 0（−5）" in posts[0]


async def test_a_monday_post_summarises_the_week_that_just_ended(console: ConsoleSession) -> None:
    await _seed(console)  # Sun 11-29 12:00
    (done,) = await console.say("root", "/admin digest mon 09:00")
    assert "09:00" in done
    blocks = await console.advance("22h")  # → Mon 11-30 10:00, past the slot and its jitter
    posts = [b for b in blocks if b.startswith("bot: 互保周报 · 互保演示组")]
    assert len(posts) == 1
    assert "11-23 — 11-29（截至 11-30 00:00）" in posts[0]  # last week, complete
    assert "- 新增 6（+4） · 已解决 5（+4）" in posts[0]
    assert "🌟 互保之星：bob" in posts[0]


async def test_long_overdue_list_is_cut_with_a_count_and_fits_the_smallest_platform_limit(
    console: ConsoleSession,
) -> None:
    await console.say("alice", "大家好")
    for i in range(50):
        await console.say("alice", f"/risk 这是一个内容相当长的风险描述，用来检查周报的长度限制是否生效 {i} @bob")
    console.clock.advance(timedelta(days=2))
    (block,) = await console.say("alice", "/summary")
    assert "- ……还有 40 项" in block
    assert block.count("超期") == 10
    assert len(block.encode()) < 4096  # WeCom markdown, the smallest limit


async def test_stats_for_the_group_and_for_one_member(console: ConsoleSession) -> None:
    await _seed(console)
    (group_block,) = await console.say("carol", "/stats")
    assert group_block.startswith("bot: 小组指标 · 互保演示组 · 本周（11-23 — 11-29）")
    assert "- 逾期率：100%" in group_block
    assert "- 响应时间：中位 30分钟 · P90 2小时" in group_block
    (dave,) = await console.say("carol", "/统计 @dave 本周")
    assert dave == (
        "bot: 个人指标 · dave · 本周（11-23 — 11-29）\n"
        "  - 风险提醒次数：0\n"
        "  - 新增负责：0 · 已解决（负责人）：0（按时 0）\n"
        "  - 收到：1（超时 1） · 响应中位：2小时\n"
        "  - 当前负责未解决：1 · 逾期：1\n"
        "  - 积分：2"
    )
    (month,) = await console.say("carol", "/stats 本月")
    assert month.startswith("bot: 小组指标 · 互保演示组 · 本月（11-01 — 11-30）")
    assert "- 新增 8 · 已解决 6" in month
    (days,) = await console.say("carol", "/stats 2026-11-16..2026-11-22")
    assert "2026-11-16 至 2026-11-22" in days and "- 新增 2 · 已解决 1" in days


async def test_points_why_explains_exactly_the_leaderboard(console: ConsoleSession) -> None:
    await _seed(console)
    (board,) = await console.say("dave", "/points")
    ranks = dict(re.findall(r"\d\. (\w+) (\d+)分", board))
    assert ranks == {"bob": "10", "alice": "9", "carol": "2", "dave": "2"}
    assert "🌟 互保之星：bob" in board
    assert "规则：提醒的风险被解决 +2 · 按时收到 +1 · 按时解决 +3 · 协助解决 +2" in board
    for name, total in ranks.items():
        (why,) = await console.say("dave", f"/points why @{name}")
        assert f"共 {total} 分" in why.splitlines()[0]
        assert sum(int(p) for p in re.findall(r" \+(\d+)$", why, re.M)) == int(total)
    (bob,) = await console.say("dave", "/积分 明细 @bob")
    assert bob.splitlines()[1:] == [
        "  - 11-23 09:10 #1 按时收到 +1",
        "  - 11-23 09:30 #6 提醒的风险被解决 +2",
        "  - 11-23 12:00 #1 按时解决 +3",
        "  - 11-24 09:30 #3 按时收到 +1",
        "  - 11-24 15:00 #3 按时解决 +3",
    ]
    (dave,) = await console.say("alice", "/points why @dave")
    assert dave.splitlines()[1:] == ["  - 11-24 15:00 #3 协助解决他人风险 +2"]


async def test_points_come_from_events_as_the_group_works(console: ConsoleSession) -> None:
    await console.say("alice", "/risk 证书下周过期 @bob")
    await console.say("bob", "/ack #1")
    await console.say("carol", "/note #1 续期流程在 wiki 上")
    await console.say("bob", "/resolve #1 已续期")
    (board,) = await console.say("alice", "/排行")
    assert "1. bob 4分" in board and "2. alice 2分" in board and "3. carol 2分" in board
    async with console.app.db.transaction() as session:
        kinds = {e.kind for e in (await session.exec(select(RiskEvent))).all()}
    # the leaderboard was computed from these events; no points were written anywhere
    assert kinds == {"group.setup", "group.leader", "created", "acknowledged", "noted", "resolved"}


async def test_bad_periods_and_arguments_get_usage_and_change_nothing(console: ConsoleSession) -> None:
    await _seed(console)
    (bad,) = await console.say("bob", "/stats 昨天下午")
    assert bad.startswith("bot: 参数不对（看不懂时间段 昨天下午")
    assert "用法：/stats [@user] [period]" in bad
    (bad,) = await console.say("bob", "/summary 本月")
    assert "用法：/summary [this-week/last-week]" in bad
    (missing,) = await console.say("bob", "/points why")
    assert "用法：/points why <@user> [period]" in missing
    (stranger,) = await console.say("bob", "/points why @zed")
    assert stranger == "bot: zed 在本周没有得分。"
    (nobody,) = await console.say("bob", "/points why @dave 上月")
    assert nobody == "bot: dave 在上月没有得分。"


async def test_another_group_sees_only_its_own_figures(console: ConsoleSession) -> None:
    await _seed(console)
    await console.app.register_group("console", "other", "另一组")
    (block,) = await console.say("erin", "/summary", chat="other")
    assert "- 新增 0（持平） · 已解决 0（持平）" in block
    assert "#4" not in block and "bob" not in block
    async with console.app.db.transaction() as session:
        assert len((await session.exec(select(Risk))).all()) == 8


async def test_a_risk_raised_over_the_api_earns_the_intake_no_place_in_the_figures(console: ConsoleSession) -> None:
    await console.say("alice", "大家好")
    await console.say("bob", "在")
    async with console.app.db.transaction() as session:
        group = await repo.get_group(session, "console", "demo")
        assert group is not None
        token, _ = await issue_token(session, group.id or 0, "console:root", console.clock.now())
    server = await serve(console.app)
    try:
        async with aiohttp.ClientSession() as http:
            url = server.make_url(f"/api/v1/groups/{group.id}/risks")
            body = {"text": "SKU-118 库存低于阈值", "owner": "bob"}
            async with http.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as response:
                assert response.status == 201
    finally:
        await server.close()
    await console.say("bob", "/resolve #1 已补货")
    (summary,) = await console.say("alice", "/summary")
    assert "- alice 0 · bob 0" in summary  # 风险提醒次数: the API is no member
    assert "API" not in summary
    assert "1. bob 3分" in summary and "🌟 互保之星：bob" in summary
    assert "- 协同解决率：0%" in summary  # bob alone acted on it
    (why,) = await console.say("alice", "/points why @API")
    assert "没有得分" in why


async def test_a_risk_overdue_last_week_stays_overdue_last_week_after_a_reopen(console: ConsoleSession) -> None:
    await console.say("alice", "/risk 证书过期 @bob")  # Mon 11-23 09:00, due Tue 09:00
    console.clock.advance(timedelta(days=7, hours=1))  # Mon 11-30 10:00: it was overdue all last week
    await console.say("bob", "/resolve #1 已续期")
    console.clock.advance(timedelta(days=1))
    (reopened,) = await console.say("alice", "/reopen #1 又过期了")
    assert "#1" in reopened
    (last,) = await console.say("alice", "/stats last-week")
    assert "- 未解决 1 · 逾期 1" in last and "- 逾期率：100%" in last
    assert "#1【中】证书过期 · bob · 超期5天15小时" in last  # judged by its deadline then: Tue 11-24 09:00
    (now,) = await console.say("alice", "/stats")
    assert "- 未解决 1 · 逾期 0" in now  # the new deadline has not passed


async def test_a_full_weekly_summary_fits_every_platform_in_one_message(console: ConsoleSession) -> None:
    await _seed(console)
    for i in range(20):
        await console.say(f"member{i:02}", "在")
    for i in range(30):
        await console.say("alice", f"/risk 这是一个内容相当长的风险描述，用来检查周报在各平台的长度 {i} @bob")
    console.clock.advance(timedelta(days=2))
    (shown,) = await console.say("alice", "/summary")
    assert "- ……还有" in shown  # the lists were cut
    assert_renders_on_every_platform(await last_message(console, "互保周报"))


async def test_the_weekly_summary_keeps_its_line_breaks_on_dingtalk(console: ConsoleSession) -> None:
    await _seed(console)
    await console.say("alice", "/summary")
    assert dingtalk_hard_breaks(await last_message(console, "互保周报"))


async def test_point_amounts_come_from_the_configuration(make_console: object) -> None:
    console: ConsoleSession = await make_console(  # type: ignore[operator]
        **{"points.report_resolved": 5, "points.ack_in_time": 0, "points.help_resolve": 4}
    )
    await console.say("alice", "/risk 证书下周过期 @bob")
    await console.say("bob", "/ack #1")  # in time, but the rule is off
    await console.say("carol", "/note #1 续期流程在 wiki 上")
    await console.say("bob", "/resolve #1 已续期")
    (board,) = await console.say("alice", "/points")
    assert dict(re.findall(r"\d\. (\w+) (\d+)分", board)) == {"alice": "5", "carol": "4", "bob": "3"}
    assert "规则：提醒的风险被解决 +5 · 按时收到 +0 · 按时解决 +3 · 协助解决 +4" in board
    (why,) = await console.say("alice", "/points why @bob")
    assert why.splitlines()[1:] == ["  - 11-23 09:00 #1 按时解决 +3"]
