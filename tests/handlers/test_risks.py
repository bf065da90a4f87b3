"""Risk commands as a group uses them, through the console adapter."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from hubao.adapters.console import Said
from hubao.console import ConsoleSession
from hubao.storage import repo
from hubao.storage.models import Outbox, Risk, RiskEvent


async def _rows(session: ConsoleSession, model: Any) -> list[Any]:
    async with session.app.db.transaction() as s:
        return list((await s.exec(select(model))).all())


async def _make_partners(session: ConsoleSession, a: str, b: str) -> None:
    async with session.app.db.transaction() as s:
        group = await repo.get_group(s, "console", "demo")
        assert group is not None and group.id is not None
        member, _ = await repo.upsert_member(s, group.id, f"console:{a}", a, session.clock.now())
        member.partner_id = f"console:{b}"
        s.add(member)


async def _group_of_three(console: ConsoleSession) -> None:
    """alice leads (speaks first); bob and carol join by speaking."""
    await console.say("alice", "大家好")
    await console.say("bob", "在")
    await console.say("carol", "在")


async def test_member_logs_a_risk_and_the_owner_is_pinged_with_deadlines(console: ConsoleSession) -> None:
    await _group_of_three(console)
    blocks = await console.say("alice", "/risk 库存低于安全线 @bob !高 #库存 #供应链")
    assert len(blocks) == 1
    block = blocks[0]
    assert block.startswith("bot: @bob 已登记风险提醒。")
    assert "#1【高】库存低于安全线" in block
    assert "负责人：bob" in block
    assert "11-23 10:00 前响应" in block and "11-24 09:00 前解决" in block  # 1 h / 24 h, Asia/Shanghai
    assert "标签：#库存 #供应链" in block
    assert "[收到 /ack #1]" in block
    (risk,) = await _rows(console, Risk)
    assert (risk.number, risk.level, risk.owner_id, risk.reporter_id) == (1, "high", "console:bob", "console:alice")
    assert risk.tags == ["库存", "供应链"]
    (event,) = [e for e in await _rows(console, RiskEvent) if e.risk_id == risk.id]
    assert (event.kind, event.actor_id) == ("created", "console:alice")


async def test_risk_without_mention_is_owned_by_the_reporter_and_numbers_count_up(console: ConsoleSession) -> None:
    await console.say("alice", "/风险 合同还没盖章")
    blocks = await console.say("alice", "/提醒 发票没开")
    assert "#2【中】发票没开" in blocks[0]
    assert "负责人：alice" in blocks[0]


async def test_due_sets_the_resolve_deadline_in_group_time(console: ConsoleSession) -> None:
    blocks = await console.say("alice", "/risk 周报没交 due:18:00")
    assert "11-23 10:00 前响应 · 11-23 18:00 前解决" in blocks[0]
    blocks = await console.say("alice", "/risk 月报没交 due:明天12:00")
    assert "11-24 12:00 前解决" in blocks[0]


async def test_urgent_mentions_everyone_at_once(console: ConsoleSession) -> None:
    await _group_of_three(console)
    blocks = await console.say("carol", "/urgent 机房漏水 @bob")
    assert blocks[0].startswith("bot: @all 【紧急】请所有人关注！")
    assert "#1【高】机房漏水" in blocks[0]
    (row,) = await _rows(console, Outbox)
    assert row.payload["mention_all"] is True and row.lane == 0
    blocks = await console.say("carol", "/紧急 又漏了")
    assert blocks[0].startswith("bot: @all")


async def test_owner_acknowledges_and_the_respond_clock_stops(console: ConsoleSession) -> None:
    await _group_of_three(console)
    await console.say("alice", "/risk 库存低 @bob")
    blocks = await console.say("bob", "/ack #1")
    assert blocks[0].startswith("bot: #1 已收到，开始处理。")
    assert "处理中" in blocks[0]
    (risk,) = await _rows(console, Risk)
    assert risk.status == "acknowledged" and risk.acked_at == console.clock.now()
    assert risk.next_step_at == risk.resolve_by
    assert (await console.say("bob", "/收到 1"))[0] == "bot: #1 已经有人收到了。"


async def test_partner_and_leader_may_acknowledge_but_the_reporter_may_not(console: ConsoleSession) -> None:
    await _group_of_three(console)
    await _make_partners(console, "bob", "carol")
    await console.say("alice", "/risk 库存低 @bob")
    await console.say("bob", "/risk 单据错了")  # bob owns #2, alice (leader) did not report it
    refused = await console.say("dave", "/ack #1")
    assert refused == ["bot: 无权执行：此命令仅限负责人、互保伙伴、组长、管理员。"]
    assert "已收到" in (await console.say("carol", "/ack #1"))[0]  # partner
    assert "已收到" in (await console.say("alice", "/认领 #2"))[0]  # leader


async def test_reporter_may_not_acknowledge_someone_elses_risk(console: ConsoleSession) -> None:
    await _group_of_three(console)
    await console.say("carol", "/risk 库存低 @bob")
    assert (await console.say("carol", "/ack #1"))[0].startswith("bot: 无权执行")
    (risk,) = await _rows(console, Risk)
    assert risk.status == "open"


async def test_resolve_with_a_note_then_reopen_restarts_the_clocks(console: ConsoleSession) -> None:
    await _group_of_three(console)
    await console.say("alice", "/risk 库存低 @bob")
    console.clock.advance(minutes=30)
    blocks = await console.say("bob", "/resolve #1 已补货 200 件")
    assert blocks[0].startswith("bot: #1 已解决。")
    (risk,) = await _rows(console, Risk)
    assert risk.status == "resolved" and risk.resolution == "已补货 200 件" and risk.next_step_at is None
    assert (await console.say("bob", "/解决 #1"))[0] == "bot: #1 已经解决了。"
    assert (await console.say("bob", "/reopen #1"))[0].startswith("bot: 无权执行")  # owner is not reporter
    console.clock.advance(minutes=30)
    blocks = await console.say("alice", "/重开 #1 又缺货了")
    assert blocks[0].startswith("bot: @bob #1 已重新打开，时限重新计算。")
    assert "11-23 11:00 前响应 · 11-24 10:00 前解决" in blocks[0]
    (risk,) = await _rows(console, Risk)
    assert risk.status == "open" and risk.acked_at is None and risk.clock_epoch == 1
    assert (await console.say("alice", "/reopen #1"))[0] == "bot: #1 还没有解决，无需重开。"


async def test_only_owner_reporter_leader_or_admin_may_resolve(console: ConsoleSession) -> None:
    await _group_of_three(console)
    await console.say("bob", "/risk 库存低 @carol")
    assert (await console.say("dave", "/resolve #1"))[0].startswith("bot: 无权执行")
    assert (await console.say("root", "/resolve #1 管理员代为关闭"))[0].startswith("bot: #1 已解决。")


async def test_assign_changes_the_owner_and_pings_them(console: ConsoleSession) -> None:
    await _group_of_three(console)
    await console.say("alice", "/risk 库存低 @bob")
    assert (await console.say("carol", "/assign #1 @dave"))[0].startswith("bot: 无权执行")
    blocks = await console.say("bob", "/转交 #1 @carol")
    assert blocks[0].startswith("bot: @carol #1 已转交。")
    assert "负责人：carol" in blocks[0]
    assert await console.say("carol", "/assign #1 @carol") == ["bot: #1 的负责人已经是 carol。"]
    (risk,) = await _rows(console, Risk)
    assert risk.owner_id == "console:carol"


async def test_assign_needs_a_person(console: ConsoleSession) -> None:
    await console.say("alice", "/risk 库存低")
    assert (await console.say("alice", "/assign #1"))[0] == "bot: 参数不对。用法：/assign <#n> <@user>"


async def test_notes_appear_in_the_timeline(console: ConsoleSession) -> None:
    await _group_of_three(console)
    await console.say("alice", "/risk 库存低 @bob")
    assert (await console.say("carol", "/note #1 供应商说周三到货"))[0] == "bot: 已为 #1 添加备注。"
    console.clock.advance(minutes=5)
    await console.say("bob", "/ack 1")
    blocks = await console.say("carol", "/show #1")
    text = blocks[0]
    assert "提醒人：alice（11-23 09:00）" in text
    timeline = text.split("时间线：")[1]
    assert timeline.index("alice 登记") < timeline.index("carol 备注：供应商说周三到货") < timeline.index("bob 收到")
    assert "11-23 09:05 bob 收到" in timeline


async def test_snooze_pauses_escalation_until_then(console: ConsoleSession) -> None:
    await _group_of_three(console)
    await console.say("alice", "/risk 库存低 @bob")
    blocks = await console.say("bob", "/snooze #1 2h")
    assert blocks[0] == "bot: #1 暂缓提醒至 11-23 11:00。"
    (risk,) = await _rows(console, Risk)
    assert risk.snoozed_until == risk.next_step_at == console.clock.now().replace(hour=3)
    assert (await console.say("carol", "/暂缓 #1 1h"))[0].startswith("bot: 无权执行")
    blocks = await console.say("bob", "/snooze #1 next-workday")
    assert blocks[0] == "bot: #1 暂缓提醒至 11-24 09:00。"
    assert "最多暂缓 7d" in (await console.say("bob", "/snooze #1 30d"))[0]
    assert (await console.say("bob", "/snooze #1 abc"))[0].startswith("bot: 参数不对（看不懂截止时间 abc，可以写：")


async def test_board_lists_open_risks_by_age_with_owner_and_deadline(console: ConsoleSession) -> None:
    await _group_of_three(console)
    await console.say("alice", "/risk 库存低 @bob")
    console.clock.advance(hours=2)
    await console.say("alice", "/risk 合同过期 @carol !低")
    await console.say("alice", "/risk 已经好了")
    await console.say("alice", "/resolve #3")
    (board,) = await console.say("bob", "/list")
    lines = board.split("\n")
    assert lines[0] == "bot: 未解决风险 2 项："
    assert lines[1].strip() == "#1【中】库存低 · bob · 已2小时 · 11-24 09:00 前解决 ⏰未响应"
    assert lines[2].strip() == "#2【低】合同过期 · carol · 已0分钟 · 11-24 11:00 前解决"
    (mine,) = await console.say("bob", "/list mine")
    assert "#1" in mine and "#2" not in mine
    console.clock.advance(hours=23)
    (overdue,) = await console.say("bob", "/看板 overdue")
    assert overdue.startswith("bot: 已逾期风险 1 项：") and "⚠逾期" in overdue
    (everything,) = await console.say("bob", "/list all")
    assert "全部风险 3 项" in everything and "✓已解决" in everything
    assert (await console.say("bob", "/list sideways"))[0].startswith("bot: 参数不对（sideways）")


async def test_empty_board_says_so(console: ConsoleSession) -> None:
    assert await console.say("alice", "/列表") == ["bot: 没有未解决的风险。👍"]


async def test_unknown_number_and_missing_arguments_get_usage(console: ConsoleSession) -> None:
    assert await console.say("alice", "/ack #7") == ["bot: 本群没有风险 #7。"]
    assert await console.say("alice", "/ack") == ["bot: 参数不对。用法：/ack <#n>"]
    assert await console.say("alice", "/risk") == [
        "bot: 参数不对。用法：/risk <text> [@owner] [!高/!中/!低] [#tag] [due:<time>]"
    ]
    assert await console.say("alice", "/note #1") == ["bot: 参数不对。用法：/note <#n> <text>"]
    assert (await console.say("alice", "/risk 坏了 !超高"))[0].startswith("bot: 参数不对（!超高）")
    assert (await console.say("alice", "/risk 坏了 due:去年"))[0].startswith("bot: 参数不对（看不懂截止时间 去年，")
    assert await console.say("alice", "/frobnicate") == ["bot: 未知命令 /frobnicate。发送 /help 查看可用命令。"]
    assert await _rows(console, Risk) == []


async def test_full_width_slash_and_english_names_work(console: ConsoleSession) -> None:
    blocks = await console.say("alice", "／风险 全角斜杠也行")
    assert "#1【中】全角斜杠也行" in blocks[0]
    assert "已收到" in (await console.say("alice", "／ACK #1"))[0]


async def test_a_risk_number_never_reaches_across_groups(console: ConsoleSession) -> None:
    await console.app.register_group("console", "other", "另一组")
    await console.say("alice", "/risk 本组风险 @bob")
    blocks = await console.say("alice", "/resolve #1", chat="other")
    assert blocks == ["bot: 本群没有风险 #1。"]
    assert (await console.say("zed", "/risk 另一组的风险", chat="other"))[0].find("#1【中】另一组的风险") > 0
    await console.say("zed", "/resolve #1", chat="other")
    risks = {(r.group_id, r.number): r.status for r in await _rows(console, Risk)}
    assert sorted(risks.values()) == ["open", "resolved"]
    assert (await console.say("alice", "/show #1"))[0].count("本组风险") == 1


async def test_unregistered_chat_is_told_how_to_set_up(console: ConsoleSession) -> None:
    blocks = await console.say("alice", "/risk 有风险", chat="nowhere")
    assert blocks == ["bot: 本群还没有登记为互保小组。请管理员发送 /admin setup <小组名称> 完成登记。"]
    assert (await console.say("alice", "/help", chat="nowhere"))[0].startswith("bot: 互保助手命令")
    assert await _rows(console, Risk) == []


async def test_help_is_generated_from_the_command_table(console: ConsoleSession) -> None:
    (text,) = await console.say("alice", "/help all")
    for spec in console.app.router:
        assert spec.usage in text
    (detail,) = await console.say("alice", "/帮助 resolve")
    assert detail.split("\n") == [
        "bot: /resolve <#n> [note]",
        "  标记已解决",
        "  例如：/resolve #3 已补盖章",
        "  别名：/解决",
        "  权限：负责人、提醒人、组长、管理员",
    ]
    assert (await console.say("alice", "/help 解决"))[0].startswith("bot: /resolve <#n> [note]")
    assert (await console.say("alice", "/help nope"))[0].startswith("bot: 没有命令 nope。")


async def test_english_locale(make_console: Any) -> None:
    console = await make_console(**{"bot.locale": "en"})
    blocks = await console.say("alice", "/risk stock is low @bob !high")
    assert blocks[0].startswith("bot: @bob Risk logged.")
    assert "#1 [high] stock is low" in blocks[0]
    assert "Owner: bob · open · respond by 11-23 10:00 · resolve by 11-24 09:00" in blocks[0]
    refusal = "bot: Not allowed: only the owner, the partner, the leader, admins may do this."
    assert await console.say("carol", "/ack #1") == [refusal]


async def test_plain_chat_is_ignored_and_a_repeated_delivery_has_one_effect(console: ConsoleSession) -> None:
    assert await console.say("alice", "今天天气不错") == []
    event = console.adapter.event(Said("alice", "/risk 重复投递"), console.clock.now())
    first = await console.app.dispatch(event)
    second = await console.app.dispatch(event)
    assert not first.duplicate and second.duplicate
    assert len(await _rows(console, Risk)) == 1


async def test_snooze_to_the_next_workday_honours_the_holidays_file(make_console: Any, tmp_path: Any) -> None:
    holidays = tmp_path / "holidays.toml"
    holidays.write_text('holidays = ["2026-11-24"]\n', encoding="utf-8")  # a company day off on Tuesday
    console = await make_console(**{"escalation.holidays_file": str(holidays)})
    await console.say("alice", "/risk 库存低")
    assert await console.say("alice", "/snooze #1 next-workday") == ["bot: #1 暂缓提醒至 11-25 09:00。"]


async def test_a_long_board_shows_thirty_and_counts_the_rest(console: ConsoleSession) -> None:
    for n in range(35):
        await console.say("alice", f"/risk 风险{n}")
    (board,) = await console.say("alice", "/list")
    lines = board.split("\n")
    assert lines[0] == "bot: 未解决风险 35 项："
    assert len(lines) == 1 + 30 + 1 and lines[-1].strip() == "……还有 5 项未显示"
    assert lines[1].strip().startswith("#1【中】风险0")


async def test_a_shorter_second_snooze_brings_the_reminder_back(console: ConsoleSession) -> None:
    await _group_of_three(console)
    await console.say("alice", "/risk 库存低 @bob")
    await console.say("bob", "/snooze #1 3d")
    await console.say("bob", "/snooze #1 2h")
    assert not [b for b in await console.advance("61m") if "⏰" in b]  # still snoozed
    pings = [b for b in await console.advance("60m") if "⏰" in b]
    # the 2 h rung (owner + leader), with the 1 h rung it slept through folded in, and on time
    assert len(pings) == 1 and pings[0].startswith("bot: @bob @alice ⏰ 第2次响应提醒")
    assert "晚发" not in pings[0]


async def test_one_person_too_many_or_a_second_level_is_a_usage_error(console: ConsoleSession) -> None:
    await _group_of_three(console)
    await console.say("alice", "/risk 库存低 @bob")
    assert (await console.say("alice", "/assign #1 @bob @carol"))[0].startswith("bot: 参数不对（@carol）")
    assert (await console.say("alice", "/risk 坏了 !高 !低"))[0].startswith("bot: 参数不对（!低）")
    # in free text a second @name is just a name: the first one is the owner
    blocks = await console.say("alice", "/risk 提醒 @bob 核对 @carol 的数据")
    assert blocks[0].startswith("bot: @bob 已登记风险提醒。") and "#2【中】提醒 核对 @carol 的数据" in blocks[0]


async def test_help_names_admins_among_who_may(console: ConsoleSession) -> None:
    (detail,) = await console.say("alice", "/help ack")
    assert "权限：负责人、互保伙伴、组长、管理员" in detail
    (anyone,) = await console.say("alice", "/help help")
    assert "权限：任何人" in anyone
