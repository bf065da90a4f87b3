"""The 互保责任书: set by the leader, confirmed by each member, asked of newcomers; the liability evidence."""

from __future__ import annotations

from hubao.console import ConsoleSession
from hubao.storage.models import PledgeConfirmation, RiskEvent
from tests.handlers.console_text import rows


async def test_the_leader_sets_the_pledge_members_confirm_and_a_newcomer_is_asked(console: ConsoleSession) -> None:
    for name in ("alice", "bob", "carol"):  # alice speaks first: the leader
        await console.say(name, "在")
    assert await console.say("bob", "/pledge") == ["bot: 本组还没有互保责任书。组长可用 /admin pledge <内容> 设定。"]
    (posted,) = await console.say("alice", "/admin pledge 发现风险 1 小时内提醒伙伴；知情不报者担责。")
    assert posted == (
        "bot: @bob @carol 📜 互保责任书已更新：\n  发现风险 1 小时内提醒伙伴；知情不报者担责。\n"
        "  请每位成员发送 /pledge confirm（/确认责任书）确认。"
    )
    assert await console.say("bob", "/pledge confirm") == ["bot: bob 已确认互保责任书（11-23 09:00）。"]
    await console.advance("30m")
    assert await console.say("carol", "/确认责任书") == ["bot: carol 已确认互保责任书（11-23 09:30）。"]
    assert await console.say("carol", "/pledge confirm") == ["bot: 你已在 11-23 09:30 确认过本版责任书。"]
    (shown,) = await console.say("alice", "/pledge")
    assert shown == (
        "bot: 互保演示组 · 互保责任书（alice 于 11-23 09:00 设定）\n  发现风险 1 小时内提醒伙伴；知情不报者担责。\n  \n"
        "  已确认 2/3：\n  - bob（11-23 09:00）\n  - carol（11-23 09:30）\n  未确认：alice"
    )
    # dave joins by speaking: he is asked to confirm.
    (welcome,) = await console.say("dave", "大家好")
    assert welcome == "bot: @dave 欢迎 dave！本组有互保责任书，请先用 /pledge 阅读，再发送 /pledge confirm 确认。"
    assert await console.say("dave", "还是我") == []  # asked once, on joining
    assert len(await rows(console, PledgeConfirmation)) == 2
    kinds = [e.kind for e in await rows(console, RiskEvent) if e.kind.startswith("pledge.")]
    assert kinds == ["pledge.set", "pledge.confirmed", "pledge.confirmed"]
    # A new version needs confirming again.
    await console.say("alice", "/admin pledge 新版：收到提醒 1 小时内响应。")
    (shown,) = await console.say("alice", "/pledge")
    assert "已确认 0/4：" in shown and "未确认：alice、bob、carol、dave" in shown


async def test_show_states_who_reminded_whom_when_and_who_acknowledged(console: ConsoleSession) -> None:
    for name in ("alice", "bob"):
        await console.say(name, "在")
    await console.say("alice", "/risk 证书下周过期 @bob")
    (before,) = await console.say("alice", "/show #1")
    assert "责任依据：alice 于 11-23 09:00 提醒 bob；尚无人确认" in before
    await console.advance("20m")
    await console.say("bob", "/ack #1")
    (after,) = await console.say("alice", "/show #1")
    assert "责任依据：alice 于 11-23 09:00 提醒 bob；bob 于 11-23 09:20 确认" in after
    (rule,) = await console.say("bob", "/help 责任")
    assert rule.startswith("bot: 互保责任规则：发现风险并及时提醒（/risk）的成员不承担责任，知情不报")


async def test_who_may_set_the_pledge_and_bad_input(console: ConsoleSession) -> None:
    for name in ("alice", "bob"):
        await console.say(name, "在")
    (refused,) = await console.say("bob", "/admin pledge 我说了算")
    assert refused.startswith("bot: 无权执行")
    (empty,) = await console.say("alice", "/admin pledge")
    assert "/admin pledge <text>" in empty
    (long,) = await console.say("alice", "/admin pledge " + "长" * 1600)
    assert "1500" in long
    (none,) = await console.say("bob", "/pledge confirm")
    assert none == "bot: 本组还没有互保责任书。组长可用 /admin pledge <内容> 设定。"
    (extra,) = await console.say("bob", "/pledge 删除")
    assert extra == "bot: 参数不对（删除）。用法：/pledge"
