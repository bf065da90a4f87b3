"""Restart safety: downtime catch-up, a crash inside a step, several instances sweeping together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, func, select

from hubao.app import App
from hubao.bot.clock import ManualClock
from hubao.scheduler.sweep import EscalationSweep
from hubao.storage.models import Outbox, Risk, RiskEvent
from hubao.storage.records import RiskRow
from hubao.storage.tx import Tx
from tests.harness import config_for
from tests.scheduler.helpers import escalations, first_line, outbox_keys, pings, risk_row, team


async def test_three_hours_down_gives_one_consolidated_ping_per_risk(
    make_console: Any, db_url: str, clock: ManualClock
) -> None:
    console = await team(make_console)
    await console.say("lead", "/risk first @bob")
    clock.advance(minutes=10)
    await console.say("lead", "/risk second @carol")
    clock.advance(minutes=10)
    await console.say("lead", "/risk third @bob")
    clock.advance(minutes=10)
    await console.close()  # the bot stops at 09:30 …

    clock.advance(hours=3)  # … and nothing runs until 12:30
    restarted = await make_console(admins=("root",), **{"bot.locale": "en"})
    await restarted.app.run_due()  # the first sweep after start-up
    blocks = pings(restarted.printed)
    assert [first_line(b).split("⏰ ")[1] for b in blocks] == [
        "Reminder 3: #1 is still unanswered after 3h; leader, please follow up.",
        "Reminder 3: #2 is still unanswered after 3h; leader, please follow up.",
        "Reminder 3: #3 is still unanswered after 3h; leader, please follow up.",
    ]
    for block, late in zip(blocks, ("2h", "2h", "2h"), strict=True):
        assert f"(Sent {late} late: the bot was not running.)" in block
        assert "(2 earlier reminder(s) folded into this one.)" in block
    for number in (1, 2, 3):
        assert [(e["repeat"], e["skipped"]) for e in await escalations(restarted, number)] == [(3, 2)]
    # Afterwards the ladder carries on normally: reminder 4 of #1 at 13:00, of #2 at 13:10 ...
    assert pings(await restarted.advance("29m")) == []
    assert [first_line(b).split("⏰ ")[1][:14] for b in pings(await restarted.advance("1m"))] == ["Reminder 4: #1"]
    assert "late" not in (await restarted.advance("10m"))[0]


class Crash(BaseException):
    """The process dies: not an error the sweep handles, the transaction is simply gone."""


class CrashAfterQueueing(EscalationSweep):
    async def perform(self, tx: Tx, risks: Sequence[RiskRow], now: datetime) -> list[str]:
        await super().perform(tx, risks, now)  # events written, pings queued, rows updated …
        raise Crash  # … and the process dies before the commit


async def test_a_crash_before_the_commit_leaves_nothing_and_the_rerun_pings_once(make_console: Any) -> None:
    console = await team(make_console)
    await console.say("lead", "/risk stock is low @bob")
    console.clock.advance(hours=1)
    app = console.app
    crashing = CrashAfterQueueing(app.db, app.clock, app.calendars, app.escalations.say)
    with contextlib.suppress(Crash):
        await crashing.run_once()
    assert await outbox_keys(console) == []
    assert await escalations(console) == []
    assert (await risk_row(console)).respond_pings == 0

    assert await app.escalations.run_once() == 1
    assert await app.escalations.run_once() == 0
    rid = (await risk_row(console)).id
    assert await outbox_keys(console) == [f"esc:{rid}:0:respond:1"]
    assert len(await escalations(console)) == 1


async def test_a_step_queued_again_is_still_sent_once(make_console: Any) -> None:
    """Even if a step's record were lost after its ping was queued, the key queues it once."""
    console = await team(make_console)
    await console.say("lead", "/risk stock is low @bob")
    console.clock.advance(hours=1)
    await console.app.escalations.run_once()
    async with console.app.db.transaction() as session:  # forget the step on the risk row
        await session.exec(  # type: ignore[call-overload]
            update(Risk).values(respond_pings=0, next_step_at=console.clock.now() - timedelta(minutes=1))
        )
    assert await console.app.escalations.run_once() == 1
    rows = await outbox_keys(console)
    assert len(rows) == 1 and rows[0].endswith(":0:respond:1")
    start = len(console.printed)
    await console.app.run_due()
    assert len(pings(console.printed[start:])) == 1


async def test_a_failing_risk_does_not_block_the_others(make_console: Any) -> None:
    console = await team(make_console)
    await console.say("lead", "/risk first @bob")
    await console.say("lead", "/risk second @carol")
    async with console.app.db.transaction() as session:  # a row the sweep cannot read a policy from
        await session.exec(update(Risk).where(col(Risk.number) == 1).values(policy={"respond": "soon"}))  # type: ignore[call-overload]
    console.clock.advance(hours=1)
    assert await console.app.escalations.run_once() == 1
    first, second = await risk_row(console, 1), await risk_row(console, 2)
    assert first.next_step_at == console.clock.now() + timedelta(minutes=5)  # retried later
    assert second.respond_pings == 1


async def test_two_instances_sweeping_together_perform_each_step_once(
    make_console: Any, db_url: str, clock: ManualClock
) -> None:
    console = await team(make_console)
    for n in range(30):
        await console.say("lead", f"/risk item {n} @bob")
    clock.advance(hours=1)
    apps = [App(config_for(db_url, **{"bot.locale": "en"}), clock=clock, instance_id=f"i{i}") for i in range(3)]
    try:
        counts = await asyncio.gather(*(a.escalations.run_once() for a in apps))
    finally:
        for a in apps:
            await a.close()
    assert sum(counts) == 30
    async with console.app.db.transaction() as session:
        events = (await session.exec(select(func.count()).where(RiskEvent.kind == "escalated"))).one()
        queued = (await session.exec(select(func.count()).where(col(Outbox.key).startswith("esc:")))).one()
    assert (events, queued) == (30, 30)


async def test_a_backlog_of_many_batches_swept_by_three_instances_is_pinged_once_per_risk(
    make_console: Any, db_url: str, clock: ManualClock
) -> None:
    console = await team(make_console)
    for n in range(30):
        await console.say("lead", f"/risk item {n} @bob")
    async with console.app.db.transaction() as session:  # one risk the sweep cannot read a policy from
        await session.exec(update(Risk).where(col(Risk.number) == 17).values(policy={"respond": "soon"}))  # type: ignore[call-overload]
    clock.advance(hours=1)
    apps = [App(config_for(db_url, **{"bot.locale": "en"}), clock=clock, instance_id=f"i{i}") for i in range(3)]
    for app in apps:
        app.escalations.batch = 4  # eight batches between them, taken in turns
    try:
        counts = await asyncio.gather(*(a.escalations.run_once() for a in apps))
    finally:
        for a in apps:
            await a.close()
    assert sum(counts) == 29
    async with console.app.db.transaction() as session:
        events = (await session.exec(select(RiskEvent.risk_id).where(RiskEvent.kind == "escalated"))).all()
        keys = (await session.exec(select(Outbox.key).where(col(Outbox.key).startswith("esc:")))).all()
        risks = (await session.exec(select(Risk).order_by(col(Risk.number)))).all()
    assert len(events) == len(set(events)) == 29
    assert sorted(keys) == sorted(f"esc:{r.id}:0:respond:1" for r in risks if r.number != 17)
    assert [r.respond_pings for r in risks] == [0 if r.number == 17 else 1 for r in risks]
    broken = next(r for r in risks if r.number == 17)
    assert broken.next_step_at == clock.now() + timedelta(minutes=5)  # looked at again later, alone
