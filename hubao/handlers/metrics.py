"""Metrics and contribution points, derived from the risk event log — never stored.

Pure functions over risks and their event history (storage rows, or anything with the same
attributes — see :class:`RiskRow` and :class:`EventRow`); the weekly
summary, ``/stats``, ``/points`` and the export all read the same :func:`compute`.

Definitions (a period is ``[start, end)``; "now" figures are taken at ``as_of = min(end, now)``):

- **new**: risks whose ``created`` event falls in the period.
- **resolved**: risks with a ``resolved`` event in the period (a risk resolved twice counts once).
- **on-time resolution rate**: of the resolved, the share whose last resolution in the period was
  within its resolve window (the ``on_time`` flag recorded on the event).
- **response time**: first ``acknowledged`` — or ``resolved``, which answers the reminder too —
  minus creation, in the first round (before any reopen); counted in the period of the response.
  Median: the middle value (mean of the two middle ones); p90: nearest rank, the
  ``ceil(0.9·n)``-th smallest.
- **协同解决率** (collaboration rate): resolved risks with at least two distinct people acting on
  them (any event up to the resolution; the scheduler and the API / alert intake are not people,
  see :func:`is_person`) ÷ resolved.
- **open / overdue**: the state at ``as_of`` replayed from the events; overdue = open and past
  the resolve-by time in force then (recorded on the ``created`` and ``reopened`` events; older
  events without it fall back to the risk's current one). **Overdue rate** = overdue ÷ open.
- **reminders (风险提醒次数)**: ``created`` events per reporting person in the period (risks raised
  by the intake count as new, but under no one).

Points (互保贡献积分), amounts from ``[points]``; each award names the event that earned it and
counts at that event's time; only people earn points; a rule pays a person at most once per risk (reopening and
resolving again earns nothing twice):

- ``report_resolved``: the reporter, when the risk is resolved;
- ``ack_in_time``: whoever acknowledges within the respond window;
- ``resolve_in_time``: the owner at the time, when the risk is resolved within its window;
- ``help_resolve``: everyone else who acknowledged, commented on or resolved the risk before
  it was resolved — neither its owner nor its reporter.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol


class RiskRow(Protocol):
    """The attributes of a :class:`hubao.storage.models.Risk` that the figures read."""

    id: int | None
    group_id: int
    number: int
    content: str
    level: str
    reporter_id: str
    owner_id: str
    created_at: datetime
    resolve_by: datetime


class EventRow(Protocol):
    """The attributes of a :class:`hubao.storage.models.RiskEvent` that the figures read."""

    id: int | None
    group_id: int
    risk_id: int | None
    at: datetime
    actor_id: str
    kind: str
    data: dict[str, Any]


SYSTEM = "system"
INTAKE_PREFIXES = ("api:", "alert:")  # the HTTP intake's actors (hubao.handlers.intake)
RULES = ("report_resolved", "ack_in_time", "resolve_in_time", "help_resolve")
HELP_KINDS = frozenset({"acknowledged", "noted", "resolved"})


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime

    def __contains__(self, moment: object) -> bool:
        return isinstance(moment, datetime) and self.start <= moment < self.end

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - (self.end - self.start), self.start)


@dataclass(frozen=True, slots=True)
class OverdueRisk:
    """A risk overdue at ``as_of``, with its owner and resolve-by time as they were then."""

    risk: RiskRow
    owner_id: str
    resolve_by: datetime

    @property
    def number(self) -> int:
        return self.risk.number

    @property
    def level(self) -> str:
        return self.risk.level

    @property
    def content(self) -> str:
        return self.risk.content


@dataclass(frozen=True, slots=True)
class PointRules:
    report_resolved: int = 2
    ack_in_time: int = 1
    resolve_in_time: int = 3
    help_resolve: int = 2

    @classmethod
    def from_config(cls, section: Any) -> PointRules:
        return cls(**{rule: int(getattr(section, rule)) for rule in RULES})

    def amount(self, rule: str) -> int:
        return int(getattr(self, rule))


@dataclass(frozen=True, slots=True)
class Award:
    """Points earned by one person under one rule, traced to the event that earned them."""

    user_id: str
    rule: str
    points: int
    risk_id: int
    number: int
    at: datetime
    event_id: int | None


@dataclass
class MemberFigures:
    reported: int = 0  # 风险提醒次数
    owned_new: int = 0
    acked: int = 0
    acked_late: int = 0
    resolved: int = 0  # as owner at the time
    resolved_on_time: int = 0
    open: int = 0  # owned at as_of
    overdue: int = 0
    response_times: list[timedelta] = field(default_factory=list)
    points: int = 0

    @property
    def median_response(self) -> timedelta | None:
        return median(self.response_times)


@dataclass
class Figures:
    period: Period
    as_of: datetime
    new: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    collaborative: int = 0
    open: int = 0
    overdue: list[OverdueRisk] = field(default_factory=list)  # by resolve-by time, oldest first
    response_times: list[timedelta] = field(default_factory=list)
    reminders: Counter[str] = field(default_factory=Counter)
    awards: list[Award] = field(default_factory=list)
    members: dict[str, MemberFigures] = field(default_factory=lambda: defaultdict(MemberFigures))

    @property
    def median_response(self) -> timedelta | None:
        return median(self.response_times)

    @property
    def p90_response(self) -> timedelta | None:
        return percentile(self.response_times, 90)

    @property
    def on_time_rate(self) -> float | None:
        return self.resolved_on_time / self.resolved if self.resolved else None

    @property
    def collaboration_rate(self) -> float | None:
        return self.collaborative / self.resolved if self.resolved else None

    @property
    def overdue_rate(self) -> float | None:
        return len(self.overdue) / self.open if self.open else None

    def leaderboard(self) -> list[tuple[str, int]]:
        """(user id, points) for everyone who earned points, best first; ties by id."""
        totals: Counter[str] = Counter()
        for award in self.awards:
            totals[award.user_id] += award.points
        return sorted(((u, p) for u, p in totals.items() if p > 0), key=lambda row: (-row[1], row[0]))

    def stars(self) -> list[str]:
        """互保之星: everyone tied at the top of the leaderboard."""
        board = self.leaderboard()
        return [user for user, points in board if points == board[0][1]] if board else []

    def awards_of(self, user_id: str) -> list[Award]:
        return [a for a in self.awards if a.user_id == user_id]


def is_person(actor: str) -> bool:
    """A group member, not the scheduler nor the API / alert intake: only people are counted as
    reporters, helpers or collaborators, and only people earn points."""
    return actor != SYSTEM and not actor.startswith(INTAKE_PREFIXES)


def median(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))


def percentile(values: list[timedelta], pct: int) -> timedelta | None:
    """Nearest-rank percentile: the ``ceil(pct/100 · n)``-th smallest value."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(pct / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def compute(
    risks: Iterable[RiskRow],
    events: Iterable[EventRow],
    period: Period,
    now: datetime,
    rules: PointRules = PointRules(),
) -> Figures:
    """Every figure of ``period`` from the risks' event histories (events after the period are ignored)."""
    as_of = min(period.end, now)
    figures = Figures(period=period, as_of=as_of)
    by_risk: dict[int, list[EventRow]] = defaultdict(list)
    for event in events:
        if event.risk_id is not None and event.at < period.end:
            by_risk[event.risk_id].append(event)
    for risk in risks:
        history = by_risk.get(risk.id or 0)
        if history:
            history.sort(key=lambda e: (e.at, e.id or 0))
            _replay(risk, history, figures, rules)
    figures.overdue.sort(key=lambda r: (r.resolve_by, r.number))
    for award in figures.awards:
        figures.members[award.user_id].points += award.points
    figures.awards.sort(key=lambda a: (a.at, a.number, RULES.index(a.rule), a.user_id))
    return figures


def _replay(risk: RiskRow, history: list[EventRow], figures: Figures, rules: PointRules) -> None:
    period = figures.period
    members = figures.members
    number = risk.number
    rid = risk.id or 0
    created_at, reporter, owner = risk.created_at, risk.reporter_id, risk.owner_id
    resolve_by = risk.resolve_by  # replayed from created / reopened events that record it
    state = "open"
    responded = False
    people: set[str] = set()
    helpers: dict[str, EventRow] = {}  # first contribution of each person, in order
    earned: set[tuple[str, str]] = set()
    last_resolution: tuple[EventRow, str, int] | None = None  # event, owner then, people then

    def award(rule: str, user: str, event: EventRow, source: EventRow | None = None) -> None:
        points = rules.amount(rule)
        if points and is_person(user) and (rule, user) not in earned:
            earned.add((rule, user))
            figures.awards.append(Award(user, rule, points, rid, number, event.at, (source or event).id))

    for event in history:
        kind, actor, data = event.kind, event.actor_id, event.data or {}
        inside = event.at in period
        if is_person(actor):
            people.add(actor)
            if kind in HELP_KINDS:
                helpers.setdefault(actor, event)
        if kind == "created":
            created_at, reporter = event.at, actor
            owner = str(data.get("owner") or owner)
            resolve_by = _deadline(data, risk.resolve_by)
            state = "open"
            if inside:
                figures.new += 1
                members[owner].owned_new += 1
                if is_person(actor):
                    figures.reminders[actor] += 1
                    members[actor].reported += 1
        elif kind == "assigned":
            owner = str(data.get("to") or owner)
        elif kind == "reopened":
            state = "open"
            resolve_by = _deadline(data, risk.resolve_by)
            responded = True  # response time is about the first round only
        elif kind in ("acknowledged", "resolved"):
            if not responded:
                responded = True
                if inside:
                    figures.response_times.append(event.at - created_at)
                    members[owner].response_times.append(event.at - created_at)
            if kind == "acknowledged":
                state = "acknowledged"
                late = bool(data.get("late", False))
                if inside and is_person(actor):
                    members[actor].acked += 1
                    members[actor].acked_late += late
                    if not late:
                        award("ack_in_time", actor, event)
            else:
                state = "resolved"
                if inside:
                    last_resolution = (event, owner, len(people))
                    award("report_resolved", reporter, event)
                    if data.get("on_time"):
                        award("resolve_in_time", owner, event)
                    for helper, contribution in helpers.items():
                        if helper not in (owner, reporter):
                            award("help_resolve", helper, event, contribution)

    if last_resolution is not None:
        resolution, owner_then, people_then = last_resolution
        on_time = bool((resolution.data or {}).get("on_time"))
        figures.resolved += 1
        figures.resolved_on_time += on_time
        figures.collaborative += people_then >= 2
        members[owner_then].resolved += 1
        members[owner_then].resolved_on_time += on_time
    if state != "resolved" and created_at <= figures.as_of:
        figures.open += 1
        members[owner].open += 1
        if resolve_by < figures.as_of:
            figures.overdue.append(OverdueRisk(risk, owner, resolve_by))
            members[owner].overdue += 1


def _deadline(data: Mapping[str, Any], fallback: datetime) -> datetime:
    """The resolve-by time an event recorded (``created`` / ``reopened`` write it); events from
    before it was recorded fall back to the risk row's current one."""
    raw = data.get("resolve_by")
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            return fallback
        if moment.tzinfo is not None:
            return moment
    return fallback


def group_figures(
    risks: Mapping[int, list[RiskRow]],
    events: Mapping[int, list[EventRow]],
    period: Period,
    now: datetime,
    rules: PointRules,
) -> dict[int, Figures]:
    """:func:`compute` for many groups at once (the weekly summary of every group)."""
    return {gid: compute(group_risks, events.get(gid, ()), period, now, rules) for gid, group_risks in risks.items()}
