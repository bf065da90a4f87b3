"""A group on the workdays calendar: working hours, National Day 2026, a 调休 Saturday."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hubao.bot.clock import ManualClock
from tests.scheduler.helpers import escalations, first_line, pings, team

SH = ZoneInfo("Asia/Shanghai")


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SH).astimezone(UTC)  # type: ignore[misc]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at(2026, 9, 28, 9, 0))  # Monday before National Day


async def test_windows_count_working_time_across_national_day(make_console: Any, clock: ManualClock) -> None:
    console = await team(make_console, **{"escalation.calendar": "workdays"})
    clock.set(at(2026, 9, 30, 17, 30))
    (reply,) = await console.say("lead", "/risk vendor contract expires @bob")
    assert "respond by 10-08 09:30 · resolve by 10-08 17:30" in reply
    assert pings(await console.advance("7d15h59m")) == []  # to 10-08 09:29: the whole holiday is quiet
    blocks = pings(await console.advance("1m"))
    assert [first_line(b) for b in blocks] == [
        "bot: @bob @carol ⏰ #1 has waited 7d without an answer. Owner or partner: reply /ack #1."
    ]
    assert "late" not in blocks[0]  # waiting for working time is not lateness


async def test_repeats_outside_working_hours_wait_for_the_next_working_minute(
    make_console: Any, clock: ManualClock
) -> None:
    console = await team(make_console, **{"escalation.calendar": "workdays"})
    clock.set(at(2026, 9, 29, 16, 30))  # Tuesday
    await console.say("lead", "/risk vendor contract expires @bob")
    assert len(pings(await console.advance("1h"))) == 1  # 17:30
    assert pings(await console.advance("15h29m")) == []  # to Wednesday 08:59
    blocks = pings(await console.advance("1h1m"))  # Wednesday 09:30 is one working hour after 17:30
    assert [first_line(b).split("⏰ ")[1][:10] for b in blocks] == ["Reminder 2"]
    assert [e["repeat"] for e in await escalations(console)] == [1, 2]


async def test_resolve_day_falls_on_the_make_up_saturday(make_console: Any, clock: ManualClock) -> None:
    console = await team(make_console, **{"escalation.calendar": "workdays"})
    clock.set(at(2026, 10, 9, 10, 0))  # Friday
    (reply,) = await console.say("lead", "/risk server cert renewal @bob")
    assert "resolve by 10-10 10:00" in reply  # Saturday 10-10 is a working day (调休)
    await console.say("bob", "/ack #1")
    assert pings(await console.advance("23h59m")) == []
    blocks = pings(await console.advance("1m"))
    assert first_line(blocks[0]).startswith("bot: @bob @lead @root ⚠️ Overdue: #1 passed its resolve deadline")
    # The next daily rung skips Sunday 10-11 (not a working day): Monday 10-12 10:00.
    assert pings(await console.advance("1d23h59m")) == []
    assert len(pings(await console.advance("1m"))) == 1


async def test_urgent_ignores_the_calendar(make_console: Any, clock: ManualClock) -> None:
    console = await team(make_console, **{"escalation.calendar": "workdays"})
    clock.set(at(2026, 10, 1, 22, 0))  # National Day, at night
    (reply,) = await console.say("carol", "/urgent payment gateway down @bob")
    assert first_line(reply).startswith("bot: @all [URGENT]")
    assert "respond by 10-01 23:00" in reply
    blocks = pings(await console.advance("1h"))
    assert first_line(blocks[0]).startswith("bot: @bob @carol ⏰ #1 has waited 1h")


async def test_group_setting_overrides_the_config_calendar(make_console: Any, clock: ManualClock) -> None:
    from tests.scheduler.helpers import set_group

    console = await team(make_console)  # config: always
    await set_group(console, calendar="workdays", work_hours="10:00-16:00")
    clock.set(at(2026, 9, 30, 15, 30))
    (reply,) = await console.say("lead", "/risk something @bob")
    assert "respond by 10-08 10:30" in reply
