"""Duty rotation (值班): set, show, swap, off; handovers on a database timer in the group's zone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp

from hubao.console import ConsoleSession
from hubao.handlers.intake import issue_token
from hubao.storage import repo
from hubao.storage.models import DutyRoster, RiskEvent, Timer
from tests.handlers.console_text import rows
from tests.harness import serve


async def _group(console: ConsoleSession) -> None:
    for name in ("alice", "bob", "carol", "dave"):  # alice speaks first: she leads
        await console.say(name, "在")


async def test_leader_sets_a_weekly_rotation_and_the_handover_is_posted_at_monday_nine(
    console: ConsoleSession,
) -> None:
    await _group(console)
    # The clock starts on Monday 11-23 09:00 Asia/Shanghai: the first handover is next Monday 09:00.
    (reply,) = await console.say("alice", "/值班 设置 @bob @carol @dave")
    assert reply.startswith("bot: @bob 值班轮换已设置。")
    assert "当前值班：bob" in reply and "下一班：carol（11-30 09:00 交接）" in reply
    assert "轮换：每周一 09:00" in reply and "顺序：bob → carol → dave" in reply
    (now,) = await console.say("dave", "/duty")
    assert "当前值班：bob" in now
    assert not [b for b in await console.advance("6d23h59m") if "值班交接" in b]
    (handover,) = [b for b in await console.advance("1m") if "值班交接" in b]
    assert handover.startswith("bot: @carol @bob 值班交接：bob → carol")
    assert "下一班 dave（12-07 09:00）" in handover
    (rota,) = await rows(console, DutyRoster)
    assert rota.position == 1
    (timer,) = [t for t in await rows(console, Timer) if t.kind == "duty.rotate"]
    assert timer.runs == 1  # the same row moved on to the next Monday
    handovers = [e for e in await rows(console, RiskEvent) if e.kind == "duty.handover"]
    assert [(e.actor_id, e.data) for e in handovers] == [("system", {"from": "console:bob", "to": "console:carol"})]


async def test_after_downtime_the_turn_passes_once_not_once_per_missed_slot(console: ConsoleSession) -> None:
    await _group(console)
    await console.say("alice", "/duty set @bob @carol @dave every day 18:00")
    # The app is down for three days: the first sweep after it hands over once.
    console.clock.advance(timedelta(days=3))
    await console.app.run_due()
    await console.app.deliver()
    handovers = [e for e in await rows(console, RiskEvent) if e.kind == "duty.handover"]
    assert len(handovers) == 1
    (now,) = await console.say("bob", "/duty")
    assert "当前值班：carol" in now and "轮换：每天 18:00" in now


async def test_workdays_group_hands_over_at_the_next_working_minute(console: ConsoleSession) -> None:
    await _group(console)
    await console.say("root", "/admin calendar workdays hours=09:00-18:00 tz=Asia/Shanghai")
    (reply,) = await console.say("alice", "/duty set @bob @carol every sat 10:00")
    assert "下一班：carol（11-30 09:00 交接）" in reply  # Saturday is no working day


async def test_swap_off_and_bad_input_say_what_is_wrong(console: ConsoleSession) -> None:
    await _group(console)
    assert await console.say("bob", "/duty") == [
        "bot: 本组未设置值班。组长可发送 /duty set @甲 @乙 [every mon 09:00] 设置。"
    ]
    (bad,) = await console.say("alice", "/duty set @bob @carol every someday 25:00")
    assert "看不懂轮换时间" in bad and "/duty set <@user…> [every mon 09:00]" in bad
    await console.say("alice", "/duty set @bob @carol @dave every fri 17:30")
    (swapped,) = await console.say("alice", "/duty swap @bob @dave")
    assert "顺序：dave → carol → bob" in swapped and "当前值班：dave" in swapped
    (one,) = await console.say("alice", "/duty swap @bob @bob")
    assert "请 @ 两个不同的人" in one
    (refused,) = await console.say("bob", "/duty off")
    assert refused.startswith("bot: 无权执行")
    assert await console.say("alice", "/duty off") == ["bot: 值班轮换已停止。"]
    assert [t for t in await rows(console, Timer) if t.kind == "duty.rotate"] == []
    kinds = [(e.kind, e.actor_id) for e in await rows(console, RiskEvent) if e.kind.startswith("duty.")]
    assert kinds == [("duty.set", "console:alice"), ("duty.swap", "console:alice"), ("duty.off", "console:alice")]


async def test_english_locale_describes_the_rotation(make_console: Any) -> None:
    console: ConsoleSession = await make_console(**{"bot.locale": "en"})
    await _group(console)
    (reply,) = await console.say("alice", "/duty set @bob @carol every day 09:00")
    assert "On duty: bob" in reply and "Rotation: every day at 09:00" in reply


async def test_on_duty_member_owns_intake_risks_and_is_called_at_the_first_escalation_step(
    console: ConsoleSession,
) -> None:
    await _group(console)
    await console.say("alice", "/duty set @carol @dave")
    async with console.app.db.transaction() as session:
        group = await repo.get_group(session, "console", "demo")
        assert group is not None and group.id is not None
        token, _ = await issue_token(session, group.id, "console:root", console.clock.now())
    server = await serve(console.app)
    try:
        async with aiohttp.ClientSession() as http:
            url = str(server.make_url(f"/api/v1/groups/{group.id}/risks"))
            async with http.post(url, json={"text": "SKU-118 库存低于阈值"},
                                 headers={"Authorization": f"Bearer {token}"}) as response:  # fmt: skip
                assert response.status == 201
                assert (await response.json())["owner"] == "console:carol"  # on duty, not the leader alice
    finally:
        await server.close()
    await console.app.deliver()
    await console.say("bob", "/risk 合同未盖章 @bob")
    pings = await console.advance("61m")
    (ping,) = [p for p in pings if "合同未盖章" in p]
    assert ping.startswith("bot: @bob @carol ")  # the owner, then whoever is on duty
    (card,) = [p for p in pings if "SKU-118" in p]
    assert card.startswith("bot: @carol ")  # on duty and owner: called once


async def test_two_instances_on_one_database_hand_over_once(make_console: Any) -> None:
    first: ConsoleSession = await make_console(admins=("root",))
    second: ConsoleSession = await make_console(admins=("root",))  # the same database and clock
    await _group(first)
    await first.say("alice", "/duty set @bob @carol every day 09:00")
    first.clock.advance(timedelta(days=1))
    await second.app.run_due()
    await first.app.run_due()
    handovers = [e for e in await rows(first, RiskEvent) if e.kind == "duty.handover"]
    assert len(handovers) == 1
    (rota,) = await rows(second, DutyRoster)
    assert rota.position == 1
