"""/admin: setting a group up and running it, as admins and leaders see it in the chat."""

from __future__ import annotations

import hashlib
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from hubao.console import ConsoleSession
from hubao.storage.models import ApiToken, BotAdmin, Group, Member, Outbox, RiskEvent, Timer


async def _group(console: ConsoleSession, chat: str = "demo") -> Group:
    async with console.app.db.transaction() as session:
        group = (await session.exec(select(Group).where(Group.chat_id == chat))).one()
        return group


async def _admin_events(console: ConsoleSession) -> list[RiskEvent]:
    async with console.app.db.transaction() as session:
        stmt = select(RiskEvent).where(col(RiskEvent.kind).startswith("admin.")).order_by(col(RiskEvent.id))
        return list((await session.exec(stmt)).all())


async def _member(console: ConsoleSession, name: str, chat: str = "demo") -> Member | None:
    group = await _group(console, chat)
    async with console.app.db.transaction() as session:
        stmt = select(Member).where(Member.group_id == group.id, Member.user_id == f"console:{name}")
        return (await session.exec(stmt)).first()


async def test_an_unregistered_chat_is_told_how_to_set_it_up_and_only_an_admin_may(console: ConsoleSession) -> None:
    [reply] = await console.say("alice", "/risk 库存低", chat="g2")
    assert "/admin setup" in reply
    [refused] = await console.say("alice", "/admin setup 仓储组", chat="g2")
    assert refused == "bot: 无权执行：此命令仅限管理员。"
    [done] = await console.say("root", "/admin setup 仓储组", chat="g2")
    assert done.startswith("bot: @root 已登记互保小组「仓储组」")
    group = await _group(console, "g2")
    assert (group.name, group.leader_id) == ("仓储组", "console:root")
    assert "已登记风险提醒" in (await console.say("alice", "/risk 库存低", chat="g2"))[0]
    [again] = await console.say("root", "/管理 登记 别的名字", chat="g2")
    assert "已经登记为「仓储组」" in again
    [event] = [e for e in await _admin_events(console) if e.group_id == group.id]
    assert (event.kind, event.actor_id, event.data) == ("admin.setup", "console:root", {"name": "仓储组",
                                                                                         "leader": "console:root"})


async def test_setup_may_name_another_leader(console: ConsoleSession) -> None:
    await console.say("root", "/admin setup 仓储组 @bob", chat="g2")
    assert (await _group(console, "g2")).leader_id == "console:bob"
    assert (await console.say("bob", "/admin pair @carol @dave", chat="g2"))[0].startswith("bot: @carol @dave")


async def test_leader_runs_their_own_group_but_not_another(console: ConsoleSession) -> None:
    await console.say("alice", "大家好")  # alice leads the demo group
    await console.say("root", "/admin setup 仓储组 @bob", chat="g2")
    assert "结为互保伙伴" in (await console.say("alice", "/admin pair @bob @carol"))[0]
    leaders_only = ["bot: 无权执行：此命令仅限组长、管理员。"]
    assert (await console.say("alice", "/admin pair @bob @carol", chat="g2")) == leaders_only
    assert (await console.say("alice", "/admin leader @carol", chat="g2")) == leaders_only
    # Not starred: even the leader of this group may not.
    assert (await console.say("alice", "/admin policy high respond=30m")) == ["bot: 无权执行：此命令仅限管理员。"]
    assert (await console.say("alice", "/admin admins add @bob")) == ["bot: 无权执行：此命令仅限管理员。"]
    assert (await _group(console, "g2")).leader_id == "console:bob"


async def test_pairing_lets_the_partner_acknowledge_and_re_pairing_unlinks_the_old_partner(
    console: ConsoleSession,
) -> None:
    await console.say("alice", "/admin pair @bob @carol")
    await console.say("dave", "/risk 单据错了 @bob")
    assert "已收到" in (await console.say("carol", "/ack #1"))[0]
    await console.say("alice", "/admin pair @bob @dave")
    bob, carol, dave = [await _member(console, n) for n in ("bob", "carol", "dave")]
    assert bob and carol and dave
    assert (bob.partner_id, dave.partner_id, carol.partner_id) == ("console:dave", "console:bob", None)
    assert (await console.say("alice", "/admin pair @bob @bob"))[0].startswith("bot: 参数不对（不能和自己结对）")
    assert "已解除结对" in (await console.say("alice", "/admin unpair @dave"))[0]
    assert (await _member(console, "bob")).partner_id is None  # type: ignore[union-attr]
    kinds = [e.kind for e in await _admin_events(console)]
    assert kinds == ["admin.pair", "admin.pair", "admin.unpair"]


async def test_member_removal_takes_away_member_commands_and_the_leader_cannot_be_removed(
    console: ConsoleSession,
) -> None:
    await console.say("alice", "大家好")
    await console.say("bob", "我来了")
    assert "已移出小组：bob" in (await console.say("alice", "/admin member remove @bob"))[0]
    assert (await console.say("bob", "/risk 还能记吗")) == ["bot: 无权执行：此命令仅限小组成员、管理员。"]
    assert "先用 /admin leader 换组长" in (await console.say("root", "/admin member remove @alice"))[0]
    assert "已加入小组：bob" in (await console.say("alice", "/admin member add @bob"))[0]
    assert "已登记风险提醒" in (await console.say("bob", "/risk 又能记了"))[0]
    assert (await console.say("alice", "/admin member kick @bob"))[0].startswith("bot: 参数不对（kick）")


async def test_leader_can_hand_over_and_then_is_an_ordinary_member(console: ConsoleSession) -> None:
    await console.say("alice", "大家好")
    assert (await console.say("alice", "/admin leader @bob")) == ["bot: @bob 组长已设为 bob。"]
    assert (await console.say("alice", "/admin leader @alice")) == ["bot: 无权执行：此命令仅限组长、管理员。"]
    [event] = await _admin_events(console)
    assert (event.kind, event.actor_id, event.data) == (
        "admin.leader", "console:alice", {"from": "console:alice", "to": "console:bob"}
    )


async def test_policy_changes_the_windows_of_new_risks_only(console: ConsoleSession) -> None:
    await console.say("alice", "/risk 旧风险 !高")
    [reply] = await console.say("root", "/admin policy 高 respond=30m resolve=4h")
    assert "高：30m 内响应，4h 内解决" in reply
    [card] = await console.say("alice", "/risk 新风险 !高")
    assert "11-23 09:30 前响应 · 11-23 13:00 前解决" in card
    [old] = await console.say("alice", "/show #1")
    assert "11-23 10:00 前响应 · 11-24 09:00 前解决" in old
    assert (await _group(console)).policy == {"high": {"respond": 1800.0, "resolve": 14400.0}}
    await console.say("root", "/admin policy high reset")
    assert (await _group(console)).policy == {}


async def test_absurd_policy_calendar_and_digest_values_are_refused_and_change_nothing(
    console: ConsoleSession,
) -> None:
    before = await _group(console)
    for bad in (
        "/admin policy high respond=999d",
        "/admin policy high respond=0m",
        "/admin policy high respond=99999999999h",
        "/admin policy high repeat=1m",
        "/admin policy high max=999",
        "/admin policy high respond=2d",  # longer than the 24 h resolve window
        "/admin policy extreme respond=1h",
        "/admin policy high sideways=1h",
        "/admin calendar sometimes",
        "/admin calendar workdays hours=18:00-09:00",
        "/admin calendar workdays hours=25:00-26:00",
        "/admin calendar workdays tz=../../etc/passwd",
        "/admin calendar workdays tz=Mars/Olympus_Mons",
        "/admin calendar workdays tz=" + "A" * 300,
        "/admin escalate-to <at user_id=all>",
        "/admin digest 周八 17:00",
        "/admin digest fri 25:00",
    ):
        [reply] = await console.say("root", bad)
        assert reply.startswith("bot: 参数不对"), (bad, reply)
    after = await _group(console)
    assert (after.policy, after.calendar, after.work_hours, after.timezone, after.escalate_to, after.digest_at) == (
        before.policy, before.calendar, before.work_hours, before.timezone, before.escalate_to, before.digest_at
    )
    assert await _admin_events(console) == []


async def test_calendar_escalation_chat_and_digest_are_stored(console: ConsoleSession) -> None:
    await console.say("alice", "大家好")
    await console.say("root", "/admin calendar workdays hours=09:30-18:00 tz=Asia/Tokyo")
    await console.say("root", "/admin escalate-to oc_boss")
    [digest] = await console.say("alice", "/admin digest 周四 16:30")
    assert digest == "bot: 周报时间：周四 16:30（Asia/Tokyo）。"
    group = await _group(console)
    assert (group.calendar, group.work_hours, group.timezone, group.escalate_to, group.digest_at) == (
        "workdays", "09:30-18:00", "Asia/Tokyo", "oc_boss", "thu 16:30"
    )
    async with console.app.db.transaction() as session:
        timer = (await session.exec(select(Timer).where(Timer.key == f"weekly:{group.id}"))).one()
    posted = timer.due_at.astimezone(ZoneInfo("Asia/Tokyo"))  # the weekly post moved at once
    assert (posted.strftime("%a"), posted.hour) == ("Thu", 16) and 30 < posted.minute <= 35
    await console.say("root", "/admin escalate-to off")
    assert (await _group(console)).escalate_to is None
    kinds = [e.kind for e in await _admin_events(console)]
    assert kinds == ["admin.calendar", "admin.escalate-to", "admin.digest", "admin.escalate-to"]
    [shown] = await console.say("root", "/admin show")
    assert "计时：仅工作日工作时间 · 09:30-18:00 · Asia/Tokyo" in shown
    assert "周报：周四 16:30" in shown


async def test_admins_added_in_chat_can_administer_and_config_admins_stay(console: ConsoleSession) -> None:
    await console.say("alice", "大家好")
    assert (await console.say("dave", "/admin show")) == ["bot: 无权执行：此命令仅限管理员。"]
    assert "dave 成为机器人管理员" in (await console.say("root", "/admin admins add @dave"))[0]
    assert "机器人管理员：root、dave" in (await console.say("dave", "/admin show"))[0]
    assert "配置文件里的管理员" in (await console.say("dave", "/admin admins remove @root"))[0]
    assert "dave 不再是机器人管理员" in (await console.say("root", "/admin admins remove @dave"))[0]
    assert (await console.say("dave", "/admin show")) == ["bot: 无权执行：此命令仅限管理员。"]
    async with console.app.db.transaction() as session:
        assert (await session.exec(select(BotAdmin))).all() == []
    kinds = [(e.kind, e.data) for e in await _admin_events(console)]
    assert kinds == [("admin.admins.add", {"user": "console:dave"}), ("admin.admins.remove", {"user": "console:dave"})]


async def test_token_is_shown_once_and_only_its_hash_is_kept(console: ConsoleSession) -> None:
    await console.say("alice", "大家好")
    [reply] = await console.say("root", "/admin token")
    token = reply.split("\n")[1].strip()
    assert token.startswith("hbt_") and len(token) > 40
    assert "POST /api/v1/groups/1/risks" in reply
    async with console.app.db.transaction() as session:
        row = (await session.exec(select(ApiToken))).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    events = await _admin_events(console)
    assert [(e.kind, e.data) for e in events] == [("admin.token", {"rotated": False})]
    [again] = await console.say("root", "/admin token")
    assert again.split("\n")[1].strip() != token
    assert (await _admin_events(console))[-1].data == {"rotated": True}
    assert "已吊销" in (await console.say("root", "/admin token revoke"))[0]
    assert "没有接入令牌" in (await console.say("root", "/admin token revoke"))[0]
    assert "接入令牌：未设置" in (await console.say("root", "/admin show"))[0]


async def test_unknown_admin_subcommand_shows_the_admin_menu(console: ConsoleSession) -> None:
    [reply] = await console.say("alice", "/管理 frobnicate")
    assert reply.startswith("bot: 没有管理命令 frobnicate。\n  管理命令：")
    assert "/admin setup <name> [@leader]" in reply
    assert "/admin pair <@a> <@b> — 设置互保伙伴（结对） [组长、管理员]" in reply


async def test_english_admin_replies(make_console: Any) -> None:
    console = await make_console(admins=("root",), **{"bot.locale": "en"})
    await console.say("alice", "hello")
    assert (await console.say("alice", "/admin leader @bob")) == ["bot: @bob bob now leads this group."]
    assert (await console.say("alice", "/admin show")) == ["bot: Not allowed: only admins may do this."]
    [shown] = await console.say("root", "/admin show")
    assert shown.startswith('bot: Group "互保演示组" · id 1 · console:demo\n  Leader: bob')


async def test_admin_commands_write_no_outbox_row_for_a_refusal_other_than_the_reply(console: ConsoleSession) -> None:
    await console.say("alice", "大家好")
    async with console.app.db.transaction() as session:
        before = len((await session.exec(select(Outbox))).all())
    await console.say("bob", "/admin policy high respond=1h")
    async with console.app.db.transaction() as session:
        assert len((await session.exec(select(Outbox))).all()) == before + 1
    assert await _admin_events(console) == []
