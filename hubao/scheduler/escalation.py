"""The escalation ladder as a pure function of a risk, its policy, its calendar and the time.

Two ladders, with rungs at fixed moments computed from the risk's deadlines:

- respond: rung n (n = 1 … 1 + max_repeats) at ``respond_by + (n-1)·repeat`` while the risk is
  not acknowledged. Rung 1 pings owner + partner; later rungs add the leader.
- resolve: rung k (k = 1, 2, …) at ``resolve_by + (k-1)·resolve_repeat`` while it is not resolved.
  Pings owner, leader, admins and the escalation chat; @all for high-level risks. Once the
  resolve ladder has started the respond ladder is over (the bigger rung says it all).

Spans are counted by the group's calendar (working time on ``workdays``), and a ping due
outside working time waits for the next working minute; urgent risks use :data:`ALWAYS`.
A snoozed risk pings nothing until the snooze ends.

``repeat`` in a step is the rung's ordinal (1 = the first ping of that ladder). Performing a step
jumps to the *current* rung: after downtime, the rungs missed are counted in ``skipped`` and folded
into that one ping, never replayed one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from enum import Flag, auto

from hubao.scheduler.calendar import ALWAYS, Calendar
from hubao.scheduler.policy import Policy

RESPOND = "respond"
RESOLVE = "resolve"


class Audience(Flag):
    OWNER = auto()
    PARTNER = auto()
    LEADER = auto()
    ADMINS = auto()
    ESCALATION_CHAT = auto()
    ALL = auto()  # @all in the group


@dataclass(frozen=True, slots=True)
class RiskView:
    """What the ladder needs to know about a risk (a storage row has all of these)."""

    status: str
    level: str
    urgent: bool
    respond_by: datetime
    resolve_by: datetime
    acked_at: datetime | None
    snoozed_until: datetime | None
    respond_pings: int
    resolve_pings: int

    @classmethod
    def of(cls, risk: object) -> RiskView:
        return cls(**{f.name: getattr(risk, f.name) for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class Step:
    """One escalation to perform now."""

    step: str  # RESPOND | RESOLVE
    repeat: int  # the rung's ordinal in its ladder, 1-based
    audience: Audience
    rung_at: datetime  # when this rung fell due
    skipped: int  # earlier rungs of this ladder not pinged (downtime, snooze), folded into this one
    next_at: datetime | None  # when the sweep must look again after this step; None = never

    @property
    def mention_all(self) -> bool:
        return Audience.ALL in self.audience

    def late_by(self, now: datetime) -> timedelta:
        return max(now - self.rung_at, timedelta(0))


def respond_rung(view: RiskView, policy: Policy, calendar: Calendar, n: int) -> datetime:
    return calendar.add(view.respond_by, policy.repeat * (n - 1))


def resolve_rung(view: RiskView, policy: Policy, calendar: Calendar, k: int) -> datetime:
    return calendar.add(view.resolve_by, policy.resolve_repeat * (k - 1))


def _last_respond_rung(policy: Policy) -> int:
    return 1 + policy.max_repeats if policy.repeat > timedelta(0) else 1


def _respond_open(view: RiskView, policy: Policy) -> bool:
    """Whether the respond ladder still has a rung to ping."""
    if view.acked_at is not None or view.resolve_pings > 0:
        return False
    return view.respond_pings < _last_respond_rung(policy)


def due_at(view: RiskView, policy: Policy, calendar: Calendar = ALWAYS) -> datetime | None:
    """When the next step of this risk falls due (already moved into working time), or None."""
    if view.status == "resolved":
        return None
    resolve_at = resolve_rung(view, policy, calendar, view.resolve_pings + 1)
    moment = resolve_at
    if _respond_open(view, policy):
        respond_at = respond_rung(view, policy, calendar, view.respond_pings + 1)
        if respond_at < resolve_at:
            moment = respond_at
    if view.snoozed_until is not None and view.snoozed_until > moment:
        moment = view.snoozed_until
    return calendar.next_open(moment)


def next_step(view: RiskView, policy: Policy, now: datetime, calendar: Calendar = ALWAYS) -> Step | None:
    """The step to perform at ``now``, or None when nothing is due (or pings must wait)."""
    due = due_at(view, policy, calendar)
    if due is None or due > now or calendar.next_open(now) != now:
        return None
    if view.snoozed_until is not None and view.snoozed_until > now:
        return None
    high = view.level == "high" or view.urgent
    resolve_first = resolve_rung(view, policy, calendar, 1)
    if resolve_first <= now:
        k = _last_rung_at_or_before(lambda i: resolve_rung(view, policy, calendar, i), view.resolve_pings + 1, now)
        audience = Audience.OWNER | Audience.LEADER | Audience.ADMINS | Audience.ESCALATION_CHAT
        if high:
            audience |= Audience.ALL
        done = replace(view, resolve_pings=k)
        return Step(
            step=RESOLVE,
            repeat=k,
            audience=audience,
            rung_at=resolve_rung(view, policy, calendar, k),
            skipped=k - view.resolve_pings - 1,
            next_at=due_at(done, policy, calendar),
        )
    n = _last_rung_at_or_before(
        lambda i: respond_rung(view, policy, calendar, i), view.respond_pings + 1, now, upper=_last_respond_rung(policy)
    )
    audience = Audience.OWNER | Audience.PARTNER
    if n > 1:
        audience |= Audience.LEADER
    done = replace(view, respond_pings=n)
    return Step(
        step=RESPOND,
        repeat=n,
        audience=audience,
        rung_at=respond_rung(view, policy, calendar, n),
        skipped=n - view.respond_pings - 1,
        next_at=due_at(done, policy, calendar),
    )


def _last_rung_at_or_before(
    rung: Callable[[int], datetime], first: int, now: datetime, upper: int | None = None
) -> int:
    """The largest i ≥ first with rung(i) ≤ now (rung(first) ≤ now is given), rungs increasing.

    Galloping then bisecting, so a risk left for a year costs a few dozen calendar sums.
    """
    low, step = first, 1
    high = low + step
    while (upper is None or high <= upper) and rung(high) <= now:
        low, step = high, step * 2
        high = low + step
    if upper is not None:
        high = min(high, upper + 1)
    while high - low > 1:  # rung(low) ≤ now < rung(high), or high is past the last rung
        mid = (low + high) // 2
        if rung(mid) <= now:
            low = mid
        else:
            high = mid
    return low
