"""The escalation sweep: claim risks whose next step is due, perform each step exactly once.

For each claimed risk, in one transaction: compute the step (:func:`next_step`), count it on the
risk, append an ``escalated`` event, queue its messages in the outbox under the step's key
(``esc:{risk_id}:{epoch}:{step}:{repeat}``; a key already queued is skipped) and set the risk's
``next_step_at``. A crash before the commit leaves nothing behind and the next sweep does the step;
after the commit the step is recorded and will not be done again. Rows are claimed with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so instances sweeping together share the work.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.clock import Clock
from hubao.bot.events import OutboundMessage
from hubao.scheduler.calendar import ALWAYS, Calendar
from hubao.scheduler.escalation import RESPOND, RiskView, Step, due_at, next_step
from hubao.scheduler.policy import Policy
from hubao.storage import repo
from hubao.storage import schedule as store
from hubao.storage.db import Database
from hubao.storage.models import Group, Risk
from hubao.storage.records import GroupRecord

log = logging.getLogger("hubao.sweep")

# (session, risk, group, step, now, expected) → [(outbox key, message)]; ``expected`` is when the
# risk became due (its first unpinged rung, held by snooze and calendar), for "sent late" notes.
Say = Callable[[AsyncSession, Risk, Group, Step, datetime, datetime], Awaitable[Sequence[tuple[str, OutboundMessage]]]]
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
        self.batch = batch
        # Told the kind of each step ("respond" or "resolve") once its transaction committed.
        self.on_step = on_step or (lambda _step: None)
        self._last_step = RESPOND

    async def next_due(self) -> datetime | None:
        async with self.db.transaction() as session:
            return await store.next_risk_due(session)

    async def run_once(self, now: datetime | None = None) -> int:
        """Perform every step due at ``now``; returns how many steps were performed."""
        now = now or self.clock.now()
        performed = 0
        while True:
            steps: list[str] = []
            async with self.db.transaction() as session:
                risks = await store.claim_due_risks(session, now, self.batch)
                groups = await store.groups_by_id(session, {r.group_id for r in risks})
                for risk in risks:
                    performed += await self._visit(session, risk, groups.get(risk.group_id), now, steps)
            for step in steps:
                self.on_step(step)
            if len(risks) < self.batch:
                return performed

    async def _visit(
        self, session: AsyncSession, risk: Risk, group: Group | None, now: datetime, steps: list[str]
    ) -> int:
        try:
            async with session.begin_nested():
                done = await self.apply(session, risk, group, now)
                await session.flush()
            if done:
                steps.append(self._last_step)
            return done
        except Exception:
            log.exception("escalation of risk %s failed; retrying in %s", risk.id, RETRY_AFTER)
            await session.refresh(risk)
            risk.next_step_at = now + RETRY_AFTER
            session.add(risk)
            await session.flush()
            return 0

    def calendar_of(self, risk: Risk, group: Group) -> Calendar:
        return ALWAYS if risk.urgent else self.calendar_for(group)

    async def apply(self, session: AsyncSession, risk: Risk, group: Group | None, now: datetime) -> int:
        """Perform ``risk``'s due step, if any, and set when to look again."""
        if group is None:  # cannot happen with the foreign key; never loop on it
            risk.next_step_at = None
            session.add(risk)
            return 0
        policy = Policy.from_json(risk.policy)
        calendar = self.calendar_of(risk, group)
        view = RiskView.of(risk)
        step = next_step(view, policy, now, calendar)
        if risk.snoozed_until is not None and risk.snoozed_until <= now:
            risk.snoozed_until = None  # the snooze is over
        if step is None:
            after = due_at(view, policy, calendar)
            if after is not None and after <= now:  # due, but pings wait for working time
                after = calendar.next_open(now)
            risk.next_step_at = _after(after, now)
            session.add(risk)
            return 0
        # When this risk first became due: lateness is counted from there, not from the rung
        # the step jumped to.
        expected = due_at(view, policy, calendar) or now
        self._last_step = step.step
        if step.step == RESPOND:
            risk.respond_pings = step.repeat
        else:
            risk.resolve_pings = step.repeat
        risk.next_step_at = _after(step.next_at, now)
        session.add(risk)
        messages = await self.say(session, risk, group, step, now, expected)
        pinged = [u.id for u in messages[0][1].mentions] if messages else []
        data: dict[str, Any] = {
            "step": step.step,
            "repeat": step.repeat,
            "skipped": step.skipped,
            "late_s": int(max((now - expected).total_seconds(), 0)),
            "to": pinged,
            "all": step.mention_all,
        }
        await repo.add_event(
            session, group_id=risk.group_id, risk_id=risk.id, actor_id="system", kind="escalated", at=now, data=data
        )
        await repo.enqueue(session, [(key, m.to_json(), int(m.lane)) for key, m in messages], now=now)
        return 1


def _after(moment: datetime | None, now: datetime) -> datetime | None:
    """Never schedule a row at or before ``now``: that would claim it again in the same pass."""
    if moment is not None and moment <= now:
        return now + timedelta(minutes=1)
    return moment
