"""Database timers and the weekly post scheduled on them."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.clock import ManualClock
from hubao.bot.events import Lane, OutboundMessage
from hubao.handlers import weekly
from hubao.scheduler import timers
from hubao.scheduler.calendar import ALWAYS, WorkdaysCalendar
from hubao.scheduler.timers import TimerSweep
from hubao.storage import repo
from hubao.storage.models import Group, Outbox, Timer
from tests.harness import config_for
from tests.scheduler.helpers import the_group

SH = ZoneInfo("Asia/Shanghai")


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SH).astimezone(UTC)  # type: ignore[misc]


async def timer_rows(console: Any) -> list[Timer]:
    """The weekly timers (each group also has its quarterly one, see tests/handlers/test_quarterly.py)."""
    async with console.app.db.transaction() as session:
        stmt = select(Timer).where(Timer.kind == weekly.KIND).order_by(col(Timer.id))
        return list((await session.exec(stmt)).all())


async def queued(console: Any, prefix: str) -> list[Outbox]:
    async with console.app.db.transaction() as session:
        stmt = select(Outbox).where(col(Outbox.key).startswith(prefix)).order_by(col(Outbox.id))
        return list((await session.exec(stmt)).all())


# --- the weekly slot ------------------------------------------------------------------------


def group(chat: str = "oc_1", **fields: Any) -> Group:
    return Group(id=1, platform="feishu", chat_id=chat, name="g", created_at=at(2026, 1, 1), **fields)


def test_weekly_slot_is_friday_five_pm_plus_a_fixed_jitter() -> None:
    config = config_for("sqlite+aiosqlite:///unused.db")
    g = group()
    minutes = weekly.jitter_minutes(g, config.digest.jitter)
    assert 1 <= minutes <= 5
    assert weekly.jitter_minutes(g, config.digest.jitter) == minutes  # the same every week
    slot = weekly.next_weekly_at(g, config, at(2026, 11, 23, 9, 0), ALWAYS)
    assert slot == at(2026, 11, 27, 17, minutes)
    assert weekly.next_weekly_at(g, config, slot, ALWAYS) == slot + timedelta(days=7)


def test_weekly_slots_never_fall_on_the_hour_or_half_hour() -> None:
    config = config_for("sqlite+aiosqlite:///unused.db", **{"digest.jitter": "45m", "digest.weekly": "周四 9:00"})
    for n in range(300):
        slot = weekly.next_weekly_at(group(f"oc_{n}"), config, at(2026, 11, 23, 9, 0), ALWAYS).astimezone(SH)
        assert slot.weekday() == 3 and slot.minute not in (0, 30) and slot.second == 0


def test_group_slot_and_time_zone_override_the_config() -> None:
    config = config_for("sqlite+aiosqlite:///unused.db", **{"digest.jitter": "30s"})
    g = group(digest_at="mon 08:30", timezone="Europe/Berlin")
    slot = weekly.next_weekly_at(g, config, at(2026, 11, 23, 9, 0), ALWAYS)
    assert slot == datetime(2026, 11, 23, 8, 31, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)  # later that day
    assert weekly.next_weekly_at(group(digest_at="nonsense"), config, at(2026, 11, 23, 9, 0), ALWAYS) == at(
        2026, 11, 27, 17, 1
    )


def test_weekly_slot_on_a_holiday_waits_for_working_time() -> None:
    config = config_for("sqlite+aiosqlite:///unused.db", **{"digest.jitter": "30s"})
    calendar = WorkdaysCalendar(SH)
    # Friday 2026-10-02 is National Day: the post waits for Thursday 10-08 09:00.
    assert weekly.next_weekly_at(group(), config, at(2026, 9, 28, 9, 0), calendar) == at(2026, 10, 8, 9, 0)


# --- the weekly post in a running bot ---------------------------------------------------------


async def test_each_group_gets_its_weekly_timer_and_it_fires_once_a_week(make_console: Any) -> None:
    console = await make_console(**{"bot.locale": "en"})
    await console.say("lead", "/risk something @bob")
    await console.advance("1m")
    g = await the_group(console)
    (timer,) = await timer_rows(console)
    expected = weekly.next_weekly_at(g, console.app.config, at(2026, 11, 23, 9, 0), ALWAYS)
    assert (timer.kind, timer.key, timer.group_id, timer.due_at) == ("weekly", f"weekly:{g.id}", g.id, expected)

    await console.app.advance(expected - console.clock.now() - timedelta(seconds=1))
    assert await queued(console, "timer:weekly:") == []
    await console.app.advance(timedelta(seconds=1))
    (post,) = await queued(console, "timer:weekly:")
    assert (post.lane, post.state, post.chat_id) == (int(Lane.DIGEST), "sent", "demo")
    (timer,) = await timer_rows(console)
    assert (timer.due_at, timer.runs) == (expected + timedelta(days=7), 1)


async def test_weekly_post_after_downtime_is_posted_once_then_back_on_schedule(
    make_console: Any, clock: ManualClock
) -> None:
    console = await make_console(**{"bot.locale": "en"})
    await console.advance("1m")
    (timer,) = await timer_rows(console)
    first = timer.due_at
    await console.close()
    clock.set(first + timedelta(days=15))  # down for two Fridays
    restarted = await make_console(**{"bot.locale": "en"})
    await restarted.app.run_due()
    assert len(await queued(restarted, "timer:weekly:")) == 1
    (timer,) = await timer_rows(restarted)
    assert timer.due_at == first + timedelta(days=21)


async def test_board_handler_posts_open_risks_and_the_overdue_count(make_console: Any) -> None:
    console = await make_console(**{"bot.locale": "en"})
    await console.say("lead", "/risk old thing @bob")
    await console.advance("2d")
    await console.say("lead", "/risk new thing @bob")
    app = console.app
    sweep = TimerSweep(app.db, app.clock)
    sweep.register(weekly.KIND, weekly.board_handler(app.config, app.calendars))
    gid = (await the_group(console)).id or 0
    async with app.db.transaction() as session:
        g = await repo.get_group_by_id(session, gid)
        assert g is not None
        await weekly.schedule_weekly(session, g, app.config, console.clock.now() - timedelta(days=7), ALWAYS)
    assert await sweep.run_once() == 1
    (post,) = [p for p in await queued(console, "timer:weekly:") if p.state == "pending"]
    text = post.payload["text"]
    assert text.startswith("📋 This week's board (互保演示组)\n2 open risks:")
    assert "#1 [medium] old thing · bob · 2d old" in text and "⚠overdue" in text
    assert text.endswith("1 of them overdue.")


# --- the generic facility ---------------------------------------------------------------------


def message(text: str) -> OutboundMessage:
    return OutboundMessage(platform="console", chat_id="demo", text=text)


async def test_a_registered_kind_fires_exactly_at_its_time_and_can_reschedule(make_console: Any) -> None:
    console = await make_console()
    app = console.app
    fired: list[datetime] = []

    async def prompt(session: AsyncSession, timer: Timer, now: datetime) -> datetime | None:
        fired.append(now)
        await repo.enqueue(session, [(timers.message_key(timer), message(timer.ref).to_json(), 1)], now=now)
        return None if len(fired) == 3 else now + timedelta(minutes=30)

    app.timers.register("test.prompt", prompt)
    start = console.clock.now()
    async with app.db.transaction() as session:
        await timers.schedule(session, kind="test.prompt", key="incident:1", due_at=start + timedelta(minutes=30),
                              now=start, ref="how is it going?")  # fmt: skip
    blocks = await console.advance("3h")
    assert fired == [start + timedelta(minutes=m) for m in (30, 60, 90)]
    assert blocks.count("bot: how is it going?") == 3
    async with app.db.transaction() as session:
        assert await repo_timer(session, "incident:1") is None  # deleted after the last run


async def repo_timer(session: AsyncSession, key: str) -> Timer | None:
    return (await session.exec(select(Timer).where(Timer.key == key))).first()


async def test_schedule_moves_an_existing_key_and_cancel_removes_it(make_console: Any) -> None:
    console = await make_console()
    now = console.clock.now()
    async with console.app.db.transaction() as session:
        await timers.schedule(session, kind="k", key="x", due_at=now + timedelta(hours=1), now=now)
        await timers.schedule(session, kind="k", key="x", due_at=now + timedelta(hours=2), now=now, ref="moved")
        timer = await repo_timer(session, "x")
        assert timer is not None and (timer.due_at, timer.ref) == (now + timedelta(hours=2), "moved")
        assert await timers.cancel(session, "x") is True
        assert await timers.cancel(session, "x") is False


async def test_a_failing_handler_is_logged_and_retried_later(
    make_console: Any, caplog: pytest.LogCaptureFixture
) -> None:
    console = await make_console()
    app = console.app
    calls: list[datetime] = []

    async def flaky(session: AsyncSession, timer: Timer, now: datetime) -> datetime | None:
        calls.append(now)
        await repo.enqueue(session, [(timers.message_key(timer), message("half done").to_json(), 1)], now=now)
        if len(calls) == 1:
            raise RuntimeError("database of the reporting feature unavailable")
        return None

    app.timers.register("test.flaky", flaky)
    now = console.clock.now()
    async with app.db.transaction() as session:
        await timers.schedule(session, kind="test.flaky", key="f", due_at=now, now=now)
    with caplog.at_level(logging.ERROR, logger="hubao.timers"):
        assert await app.timers.run_once() == 0
    assert "timer f (test.flaky) failed" in caplog.text
    assert await queued(console, "timer:f") == []  # the failed run's message was rolled back
    blocks = await console.advance("5m")
    assert calls == [now, now + timedelta(minutes=5)]
    assert blocks == ["bot: half done"]


class Crash(BaseException):
    pass


async def test_a_crash_inside_a_timer_runs_it_again_once(make_console: Any) -> None:
    console = await make_console()
    app = console.app
    crash = True

    async def post(session: AsyncSession, timer: Timer, now: datetime) -> datetime | None:
        await repo.enqueue(session, [(timers.message_key(timer), message("weekly!").to_json(), 2)], now=now)
        if crash:
            raise Crash
        return None

    app.timers.register("test.post", post)
    now = console.clock.now()
    async with app.db.transaction() as session:
        await timers.schedule(session, kind="test.post", key="p", due_at=now, now=now)
    with contextlib.suppress(Crash):
        await app.timers.run_once()
    crash = False
    assert await app.timers.run_once() == 1
    assert await app.timers.run_once() == 0
    assert len(await queued(console, "timer:p:")) == 1


async def test_timers_of_unregistered_kinds_wait_untouched(make_console: Any) -> None:
    console = await make_console()
    now = console.clock.now()
    async with console.app.db.transaction() as session:
        await timers.schedule(session, kind="not.yet", key="n", due_at=now, now=now)
    await console.advance("1h")
    async with console.app.db.transaction() as session:
        timer = await repo_timer(session, "n")
    assert timer is not None and timer.due_at == now and timer.runs == 0


def test_registering_a_kind_twice_needs_replace(db_url: str) -> None:
    from hubao.storage.db import Database

    sweep = TimerSweep(Database(db_url), ManualClock())

    async def handler(session: AsyncSession, timer: Timer, now: datetime) -> datetime | None:
        return None

    sweep.register("a", handler)
    with pytest.raises(ValueError, match="already registered"):
        sweep.register("a", handler)
    sweep.register("a", handler, replace=True)
    assert sweep.kinds == frozenset({"a"})
