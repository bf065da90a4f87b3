"""Timers kept in the database: jobs that fire once when due, claimed by the sweep exactly once.

The schedule lives in the ``timers`` table, not in process memory, so it survives restarts and
works with several instances (PostgreSQL claims rows with ``FOR UPDATE SKIP LOCKED``).

API for features (weekly summary, meeting auto-close, incident prompts, …)::

    from hubao.scheduler import timers

    # 1. register a handler for a kind, once, in the composition root (App):
    #       app.timers.register("incident.prompt", prompt_handler)
    async def prompt_handler(session: AsyncSession, timer: Timer, now: datetime) -> datetime | None:
        # Runs inside the claiming transaction: read and write freely; queue messages with
        # repo.enqueue(session, [(timers.message_key(timer), message.to_json(), lane)], now=now).
        # Return a datetime to run again then (the same row moves), or None to delete the timer.
        return now + timedelta(minutes=30)

    # 2. schedule (or move) a timer from any transaction, e.g. in a command handler:
    await timers.schedule(session, kind="incident.prompt", key=f"incident:{incident.id}",
                          due_at=now + timedelta(minutes=30), now=now, group_id=group.id, ref=str(incident.id))

    # 3. cancel it:
    await timers.cancel(session, f"incident:{incident.id}")

Guarantees: a due timer's handler runs in one transaction with the row's delete or move, so
it runs once per due time; if the handler raises, its work is rolled back, the error is logged and
the timer is retried :data:`RETRY_AFTER` later. After downtime each overdue timer fires once (late),
not once per missed period: a periodic handler computes its next time from ``now``.
Keys are unique: scheduling an existing key moves that timer. Timers of a kind nobody registered
are left alone (not claimed) until a handler for that kind is registered.
Use :func:`message_key` for the outbox keys of messages a handler queues, so that a rerun after a
crash queues nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.clock import Clock
from hubao.bot.events import OutboundMessage
from hubao.storage import repo
from hubao.storage import schedule as store
from hubao.storage.db import Database
from hubao.storage.models import Timer

log = logging.getLogger("hubao.timers")

TimerHandler = Callable[[AsyncSession, Timer, datetime], Awaitable[datetime | None]]
RETRY_AFTER = timedelta(minutes=5)


async def schedule(
    session: AsyncSession,
    *,
    kind: str,
    key: str,
    due_at: datetime,
    now: datetime,
    group_id: int | None = None,
    ref: str = "",
    data: dict[str, Any] | None = None,
) -> Timer:
    """Create timer ``key`` due at ``due_at``, or move it there if it exists."""
    return await store.put_timer(
        session, key=key, kind=kind, due_at=due_at, now=now, group_id=group_id, ref=ref, data=data
    )


async def cancel(session: AsyncSession, key: str) -> bool:
    """Delete timer ``key``; False if there was none."""
    return await store.drop_timer(session, key)


def message_key(timer: Timer, suffix: str = "") -> str:
    """An outbox key unique to this firing of ``timer``."""
    return f"timer:{timer.key}:{timer.due_at:%Y%m%dT%H%M%S}{suffix}"


async def queue_messages(
    session: AsyncSession, timer: Timer, messages: Sequence[OutboundMessage], now: datetime
) -> None:
    """Queue what one firing of ``timer`` says, under keys that make a rerun queue nothing new."""
    items = [(message_key(timer, f":{i}"), m.to_json(), int(m.lane)) for i, m in enumerate(messages)]
    await repo.enqueue(session, items, now=now)


class TimerSweep:
    """The registry of handlers by kind, and the sweep that runs due timers."""

    def __init__(self, db: Database, clock: Clock, *, batch: int = 100) -> None:
        self.db = db
        self.clock = clock
        self.batch = batch
        self._handlers: dict[str, TimerHandler] = {}

    def register(self, kind: str, handler: TimerHandler, *, replace: bool = False) -> None:
        if kind in self._handlers and not replace:
            raise ValueError(f"a handler for timer kind {kind!r} is already registered")
        self._handlers[kind] = handler

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self._handlers)

    async def next_due(self) -> datetime | None:
        async with self.db.transaction() as session:
            return await store.next_timer_due(session, self.kinds)

    async def run_once(self, now: datetime | None = None) -> int:
        """Run every timer due at ``now``; returns how many fired."""
        now = now or self.clock.now()
        fired = 0
        while True:
            async with self.db.transaction() as session:
                due = await store.claim_due_timers(session, now, self.kinds, self.batch)
                for timer in due:
                    fired += await self._fire(session, timer, now)
            if len(due) < self.batch:
                return fired

    async def _fire(self, session: AsyncSession, timer: Timer, now: datetime) -> int:
        handler = self._handlers[timer.kind]
        try:
            async with session.begin_nested():
                again = await handler(session, timer, now)
                if again is None:
                    await session.delete(timer)
                else:
                    if again <= now:
                        raise ValueError(f"timer {timer.key} rescheduled to {again}, not after {now}")
                    timer.due_at, timer.runs = again, timer.runs + 1
                    session.add(timer)
                await session.flush()
            return 1
        except Exception:
            log.exception("timer %s (%s) failed; retrying in %s", timer.key, timer.kind, RETRY_AFTER)
            await session.refresh(timer)
            timer.due_at = now + RETRY_AFTER
            session.add(timer)
            await session.flush()
            return 0
