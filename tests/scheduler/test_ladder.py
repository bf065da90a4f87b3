"""The escalation ladder as the group sees it, through the console, minute by minute."""

from __future__ import annotations

from typing import Any

from hubao.console import ConsoleSession
from tests.scheduler.helpers import (
    escalations,
    first_line,
    outbox_keys,
    outbox_rows,
    pings,
    risk_row,
    set_group,
    team,
)


async def test_unacked_risk_pings_owner_and_partner_at_sixty_minutes_not_fifty_nine(make_console: Any) -> None:
    console = await team(make_console)
    await console.say("lead", "/risk stock is low @bob")
    assert await console.advance("59m") == []
    blocks = await console.advance("1m")
    assert [first_line(b) for b in blocks] == [
        "bot: @bob @carol ⏰ #1 has waited 1h without an answer. Owner or partner: reply /ack #1."
    ]
    assert "[Acknowledge /ack #1]" in blocks[0]


async def test_hourly_repeats_add_the_leader_and_stop_after_three(make_console: Any) -> None:
    console = await team(make_console)
    await console.say("lead", "/risk stock is low @bob")
    await console.advance("60m")
    lines = []
    for _ in range(5):
        assert await console.advance("59m") == []
        lines += [first_line(b) for b in await console.advance("1m")]
    assert lines == [
        "bot: @bob @carol @lead ⏰ Reminder 2: #1 is still unanswered after 2h; leader, please follow up.",
        "bot: @bob @carol @lead ⏰ Reminder 3: #1 is still unanswered after 3h; leader, please follow up.",
        "bot: @bob @carol @lead ⏰ Reminder 4: #1 is still unanswered after 4h; leader, please follow up.",
    ]
    assert [(e["step"], e["repeat"]) for e in await escalations(console)] == [("respond", n) for n in (1, 2, 3, 4)]


async def test_unresolved_after_24h_pings_owner_leader_admins_and_the_escalation_chat(make_console: Any) -> None:
    console = await team(make_console)
    await set_group(console, escalate_to="ops-room")
    await console.say("lead", "/risk stock is low @bob")
    await console.say("bob", "/ack #1")
    assert pings(await console.advance("23h59m")) == []
    blocks = pings(await console.advance("1m"))
    assert [first_line(b) for b in blocks] == [
        "bot: @bob @lead @root ⚠️ Overdue: #1 passed its resolve deadline (11-24 09:00); "
        "the leader and admins are notified.",
        "bot: ⚠️ [互保演示组] risk #1 is unresolved, 0m past its deadline:",
    ]
    rows = await outbox_rows(console)
    assert [(r.key, r.chat_id, r.lane) for r in rows] == [
        (f"esc:{rows[0].payload and (await risk_row(console)).id}:0:resolve:1", "demo", 0),
        (f"esc:{(await risk_row(console)).id}:0:resolve:1:chat", "ops-room", 0),
    ]
    assert not rows[0].payload["mention_all"]


async def test_then_once_a_day_until_resolved(make_console: Any) -> None:
    console = await team(make_console)
    await console.say("lead", "/risk stock is low @bob")
    await console.say("bob", "/ack #1")
    await console.advance("24h")
    assert pings(await console.advance("23h59m")) == []
    blocks = pings(await console.advance("1m"))
    assert [first_line(b) for b in blocks] == [
        "bot: @bob @lead @root ⚠️ #1 is still unresolved, 24h past its deadline (overdue reminder 2)."
    ]
    await console.say("bob", "/resolve #1 restocked")
    assert pings(await console.advance("10d")) == []


async def test_high_level_risk_calls_everyone_when_overdue(make_console: Any) -> None:
    console = await team(make_console)
    await console.say("lead", "/risk server disk full @bob !high")
    await console.say("bob", "/ack #1")
    blocks = pings(await console.advance("24h"))
    assert first_line(blocks[0]).startswith("bot: @all @bob @lead @root ⚠️ Overdue: #1")


async def test_urgent_calls_everyone_at_once(make_console: Any) -> None:
    console = await team(make_console)
    blocks = await console.say("carol", "/urgent production is down @bob")
    assert first_line(blocks[0]) == "bot: @all [URGENT] Everyone, please look at this!"
    blocks = pings(await console.advance("1h"))
    assert first_line(blocks[0]).startswith("bot: @bob @carol ⏰ #1 has waited 1h")


async def test_ack_stops_the_respond_clock(make_console: Any) -> None:
    console = await team(make_console)
    await console.say("lead", "/risk stock is low @bob")
    await console.advance("61m")
    await console.say("carol", "/ack #1")  # the partner may acknowledge
    assert pings(await console.advance("22h58m")) == []
    assert len(pings(await console.advance("1m"))) == 1  # the resolve rung still comes


async def test_resolve_stops_everything(make_console: Any) -> None:
    console = await team(make_console)
    await console.say("lead", "/risk stock is low @bob")
    await console.say("bob", "/resolve #1 done")
    assert pings(await console.advance("3d")) == []
    assert (await risk_row(console)).next_step_at is None


async def test_snooze_pauses_until_its_time_then_one_ping_for_the_current_rung(make_console: Any) -> None:
    console = await team(make_console)
    await console.say("lead", "/risk stock is low @bob")
    await console.advance("30m")
    await console.say("bob", "/snooze #1 3h")
    assert pings(await console.advance("2h59m")) == []
    blocks = pings(await console.advance("1m"))
    assert [first_line(b) for b in blocks] == [
        "bot: @bob @carol @lead ⏰ Reminder 3: #1 is still unanswered after 3h; leader, please follow up."
    ]
    assert "(2 earlier reminder(s) folded into this one.)" in blocks[0]
    assert "late" not in blocks[0]  # held by the snooze, not by an outage
    assert "Snoozed until" not in blocks[0]  # the snooze is over
    assert len(pings(await console.advance("30m"))) == 1  # reminder 4 at 4h


async def test_reopen_restarts_the_clocks_under_new_keys(make_console: Any) -> None:
    console = await team(make_console)
    await console.say("lead", "/risk stock is low @bob")
    await console.advance("1h")
    await console.say("bob", "/resolve #1 done")
    await console.advance("1h")
    await console.say("lead", "/reopen #1 not really")
    assert pings(await console.advance("59m")) == []
    blocks = pings(await console.advance("1m"))
    assert first_line(blocks[0]).startswith("bot: @bob @carol ⏰ #1 has waited")
    rid = (await risk_row(console)).id
    assert await outbox_keys(console) == [f"esc:{rid}:0:respond:1", f"esc:{rid}:1:respond:1"]


async def test_show_lists_escalations_with_the_other_changes(make_console: Any) -> None:
    console = await team(make_console)
    await console.say("lead", "/risk stock is low @bob")
    await console.advance("2h")
    await console.say("bob", "/snooze #1 1h")
    await console.say("bob", "/ack #1")
    await console.advance("22h")
    await console.say("bob", "/resolve #1 done")
    await console.say("lead", "/reopen #1 again")
    (block,) = await console.say("lead", "/show #1")
    timeline = block.split("Timeline:\n", 1)[1]
    assert [line.strip() for line in timeline.splitlines() if "system" in line or "bob" in line or "lead" in line] == [
        "11-23 09:00 lead logged it",
        "11-23 10:00 system escalated (unanswered, #1)",
        "11-23 11:00 system escalated (unanswered, #2)",
        "11-23 11:00 bob snoozed it until 11-23 12:00",
        "11-23 11:00 bob acknowledged",
        "11-24 09:00 system escalated (unresolved, #1)",
        "11-24 09:00 bob resolved it: done",
        "11-24 09:00 lead reopened it: again",
    ]


async def test_console_advance_runs_everything_in_order(make_console: Any) -> None:
    console = await team(make_console)
    await console.say("lead", "/risk first @bob")
    await console.advance("30m")
    await console.say("lead", "/risk second @carol")
    blocks = pings(await console.advance("90m"))
    assert [first_line(b).split("⏰ ")[1][:16] for b in blocks] == [
        "#1 has waited 1h",
        "#2 has waited 1h",
        "Reminder 2: #1 i",
    ]


async def test_advance_jumps_between_due_moments(make_console: Any, monkeypatch: Any) -> None:
    console: ConsoleSession = await team(make_console)
    await console.say("lead", "/risk stock is low @bob")
    await console.say("bob", "/ack #1")
    passes = 0
    real = console.app.run_due

    async def counted() -> None:
        nonlocal passes
        passes += 1
        await real()

    monkeypatch.setattr(console.app, "run_due", counted)
    await console.advance("3d")
    # One pass at the start and one per resolve rung (the last one is the target):
    # not one per minute (4320).
    assert passes == 4
    assert [e["repeat"] for e in await escalations(console)] == [1, 2, 3]


async def test_per_level_policy_from_config_sets_the_windows(make_console: Any) -> None:
    console: ConsoleSession = await make_console(
        **{"bot.locale": "en", "escalation.levels": {"high": {"respond": "30m", "resolve": "8h"}}}
    )
    (high,) = await console.say("lead", "/risk disk almost full !high")
    assert "respond by 11-23 09:30 · resolve by 11-23 17:00" in high
    (medium,) = await console.say("lead", "/risk backup late")
    assert "respond by 11-23 10:00 · resolve by 11-24 09:00" in medium
    pings = [b for b in await console.advance("31m") if "⏰" in b]
    assert len(pings) == 1 and "#1" in pings[0]
