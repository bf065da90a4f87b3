"""The escalation sweep: claim risks whose next step is due, perform each step exactly once.

A pass works in batches of up to ``batch`` due risks, each batch one transaction on the driver
path (:class:`~hubao.storage.tx.Tx`, plain SQL): claim the rows, read their groups and members,
compute each risk's step (:func:`next_step`, a pure function) and its messages, then write the
whole batch in three statements (:mod:`hubao.storage.sweep_sql`): the risks' counted pings and
next ``next_step_at``, one ``escalated`` event per step, and the steps' messages in the outbox
under their keys (``esc:{risk_id}:{epoch}:{step}:{repeat}``; a key already queued is skipped).

A crash before the commit leaves nothing behind and the next sweep does the steps; after the
commit they are recorded and will not be done again. Rows are claimed with ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so instances sweeping together share the work and never take the same
risk; on SQLite the transaction holds the database's single write lock. A risk whose step cannot
be computed or said (a broken policy, say) is looked at again :data:`RETRY_AFTER` later; the rest
of its batch goes ahead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from hubao.bot.clock import Clock
from hubao.bot.events import OutboundMessage
from hubao.scheduler.calendar import ALWAYS, Calendar
from hubao.scheduler.escalation import RESPOND, RiskView, Step, due_at, next_step
from hubao.scheduler.policy import Policy
from hubao.storage import schedule as store
from hubao.storage import sweep_sql
from hubao.storage.db import Database
from hubao.storage.records import GroupRecord, GroupRow, RiskRow
from hubao.storage.sweep_sql import EventRow, QueuedRow
from hubao.storage.tx import Tx

log = logging.getLogger("hubao.sweep")

# (tx, risk, group, step, now, expected) → [(outbox key, message)]; ``risk`` carries the ladder
# state after the step; ``expected`` is when the risk became due (its first unpinged rung, held by
# snooze and calendar), for "sent late" notes.
Say = Callable[[Tx, RiskRow, GroupRow, Step, datetime, datetime], Awaitable[Sequence[tuple[str, OutboundMessage]]]]
CalendarFor = Callable[[GroupRecord], Calendar]
RETRY_AFTER = timedelta(minutes=5)


class EscalationSweep:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        calendar_for: CalendarFor,
        say: Say,
        *,
        batch: int = 200,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.calendar_for = calendar_for
        self.say = say
        # Risks per transaction: on SQLite commands wait while a batch is written, so it stays small.
        self.batch = batch
        # Told the kind of each step ("respond" or "resolve") once its transaction committed.
        self.on_step = on_step or (lambda _step: None)

    async def next_due(self) -> datetime | None:
        async with self.db.transaction() as session:
            return await store.next_risk_due(session)

    async def run_once(self, now: datetime | None = None) -> int:
        """Perform every step due at ``now``; returns how many steps were performed."""
        now = now or self.clock.now()
        performed = 0
        while True:
            async with self.db.command() as tx:
                risks = await sweep_sql.claim_due_risks(tx, now, self.batch)
                steps = await self.perform(tx, risks, now) if risks else []
            performed += len(steps)
            for step in steps:
                self.on_step(step)
            if len(risks) < self.batch:
                return performed

    async def perform(self, tx: Tx, risks: Sequence[RiskRow], now: datetime) -> list[str]:
        """Perform the due steps of ``risks``, claimed in ``tx``, and write them; the kinds of the steps."""
        groups = await sweep_sql.groups_by_id(tx, {r.group_id for r in risks})
        await sweep_sql.load_members(tx, groups.keys())  # the steps' messages name members: one query
        ladders: list[RiskRow] = []
        events: list[EventRow] = []
        queued: list[QueuedRow] = []
        steps: list[str] = []
        for risk in risks:
            group = groups.get(risk.group_id)
            performed: tuple[str, EventRow, list[QueuedRow]] | None = None
            try:
                after, step, expected = self.advance(risk, group, now)
                if step is not None and group is not None:
                    messages = await self.say(tx, after, group, step, now, expected)
                    rows = [(key, m.to_json(), int(m.lane)) for key, m in messages]
                    performed = step.step, _event(after, step, messages, now, expected), rows
            except Exception:
                log.exception("escalation of risk %s failed; retrying in %s", risk.id, RETRY_AFTER)
                ladders.append(replace(risk, next_step_at=now + RETRY_AFTER))
                continue
            ladders.append(after)
            if performed is not None:
                kind, event, rows = performed
                steps.append(kind)
                events.append(event)
                queued.extend(rows)
        await sweep_sql.set_ladders(tx, ladders)
        await sweep_sql.add_events(tx, events, now)
        await sweep_sql.enqueue(tx, queued, now)
        return steps

    def calendar_of(self, risk: RiskRow, group: GroupRow) -> Calendar:
        return ALWAYS if risk.urgent else self.calendar_for(group)

    def advance(self, risk: RiskRow, group: GroupRow | None, now: datetime) -> tuple[RiskRow, Step | None, datetime]:
        """``risk`` as it stands after looking at it at ``now``, the step to perform if any, and
        when the risk first became due (lateness is counted from there, not from the rung the
        step jumped to). Computed only: nothing is written."""
        if group is None:  # cannot happen with the foreign key; never loop on it
            return replace(risk, next_step_at=None), None, now
        policy = Policy.from_json(risk.policy)
        calendar = self.calendar_of(risk, group)
        view = RiskView.of(risk)
        due = due_at(view, policy, calendar)
        step = next_step(view, policy, now, calendar)
        snoozed_until = risk.snoozed_until
        if snoozed_until is not None and snoozed_until <= now:
            snoozed_until = None  # the snooze is over
        if step is None:
            if due is not None and due <= now:  # due, but pings wait for working time
                due = calendar.next_open(now)
            return replace(risk, snoozed_until=snoozed_until, next_step_at=_after(due, now)), None, now
        pings = {"respond_pings": step.repeat} if step.step == RESPOND else {"resolve_pings": step.repeat}
        after = replace(risk, snoozed_until=snoozed_until, next_step_at=_after(step.next_at, now), **pings)
        return after, step, due or now


def _event(
    risk: RiskRow, step: Step, messages: Sequence[tuple[str, OutboundMessage]], now: datetime, expected: datetime
) -> EventRow:
    """The ``escalated`` event of a step: which rung, how late, whom it pinged."""
    pinged = [u.id for u in messages[0][1].mentions] if messages else []
    data = {
        "step": step.step,
        "repeat": step.repeat,
        "skipped": step.skipped,
        "late_s": int(max((now - expected).total_seconds(), 0)),
        "to": pinged,
        "all": step.mention_all,
    }
    return (risk.group_id, risk.id, "system", "escalated", json.dumps(data))


def _after(moment: datetime | None, now: datetime) -> datetime | None:
    """Never schedule a row at or before ``now``: that would claim it again in the same pass."""
    if moment is not None and moment <= now:
        return now + timedelta(minutes=1)
    return moment
