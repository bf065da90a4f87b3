"""What each page shows, computed from storage rows: pure functions, no HTTP, no SQL.

Figures (trends, points, the organisation's rates) come from :mod:`hubao.handlers.metrics`
through the same loaders the weekly summary uses; nothing here recounts them another way.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hubao.bot.config import AssessmentSection
from hubao.bot.i18n import Catalog
from hubao.handlers.assessment import short_text
from hubao.handlers.common import age_text, level_label, local_time
from hubao.handlers.metrics import Figures, Period
from hubao.handlers.reports import span_text, week_of
from hubao.storage.records import RiskRow

COLUMNS = ("open", "acknowledged", "snoozed", "overdue")
LEVELS = ("high", "medium", "low")
SCALE = (1, 2, 3, 4, 5)


def name_of(user_id: str, names: dict[str, str]) -> str:
    """The member's display name; a former or unknown member shows as the id without its platform."""
    return names.get(user_id) or user_id.split(":", 1)[-1]


def column_of(risk: RiskRow, now: datetime) -> str:
    """Overdue first (the liability that matters most), then snoozed, then by state."""
    if risk.resolve_by < now:
        return "overdue"
    if risk.snoozed_until is not None and risk.snoozed_until > now:
        return "snoozed"
    return "acknowledged" if risk.status == "acknowledged" else "open"


@dataclass(frozen=True, slots=True)
class Filters:
    owner: str = ""
    tag: str = ""
    level: str = ""

    def keep(self, risk: RiskRow) -> bool:
        return (
            (not self.owner or risk.owner_id == self.owner)
            and (not self.tag or self.tag in risk.tags)
            and (not self.level or risk.level == self.level)
        )

    @property
    def active(self) -> bool:
        return bool(self.owner or self.tag or self.level)


@dataclass(frozen=True, slots=True)
class Card:
    risk: RiskRow
    owner: str
    level: str
    assessment: str
    respond_by: str
    resolve_by: str
    age: str
    late: str  # how long overdue; empty when not
    unanswered: bool
    snoozed_until: str


def card(risk: RiskRow, names: dict[str, str], t: Catalog, zone: ZoneInfo, now: datetime) -> Card:
    late = span_text(now - risk.resolve_by, t) if risk.status != "resolved" and risk.resolve_by < now else ""
    return Card(
        risk=risk,
        owner=name_of(risk.owner_id, names),
        level=level_label(risk.level, t),
        assessment=short_text(risk),
        respond_by=local_time(risk.respond_by, zone),
        resolve_by=local_time(risk.resolve_by, zone),
        age=age_text(now - risk.created_at, t),
        late=late,
        unanswered=risk.status == "open" and risk.acked_at is None and risk.respond_by < now,
        snoozed_until=local_time(risk.snoozed_until, zone) if risk.snoozed_until and risk.snoozed_until > now else "",
    )


@dataclass
class Board:
    columns: dict[str, list[Card]]
    resolved: list[Card]
    owners: list[tuple[str, str]]  # (user id, name) of the open risks' owners
    tags: list[str]
    open_count: int
    overdue_count: int


def board(
    risks: Sequence[RiskRow],
    resolved: Sequence[RiskRow],
    names: dict[str, str],
    filters: Filters,
    t: Catalog,
    zone: ZoneInfo,
    now: datetime,
) -> Board:
    columns: dict[str, list[Card]] = {name: [] for name in COLUMNS}
    owners: dict[str, str] = {}
    tags: Counter[str] = Counter()
    shown = 0
    for risk in risks:
        owners.setdefault(risk.owner_id, name_of(risk.owner_id, names))
        tags.update(risk.tags)
        if filters.keep(risk):
            columns[column_of(risk, now)].append(card(risk, names, t, zone, now))
            shown += 1
    return Board(
        columns=columns,
        resolved=[card(r, names, t, zone, now) for r in resolved if filters.keep(r)],
        owners=sorted(owners.items(), key=lambda item: item[1]),
        tags=[tag for tag, _ in tags.most_common()],
        open_count=shown,
        overdue_count=len(columns["overdue"]),
    )


# --- heat map -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cell:
    likelihood: int
    impact: int
    count: int
    level: str

    @property
    def score(self) -> int:
        return self.likelihood * self.impact


def grid(counts: dict[tuple[int, int], int], section: AssessmentSection) -> list[list[Cell]]:
    """Rows from likelihood 5 (top) to 1, columns impact 1 to 5."""
    return [
        [Cell(li, im, counts.get((li, im), 0), section.level(li, im)) for im in SCALE] for li in reversed(SCALE)
    ]


@dataclass(frozen=True, slots=True)
class TagRow:
    tag: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def tag_levels(rows: Iterable[tuple[list[str], str]], untagged: str) -> list[TagRow]:
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for tags, level in rows:
        for tag in tags or [untagged]:
            table[tag][level] += 1
    result = [TagRow(tag, {lv: counts[lv] for lv in LEVELS}) for tag, counts in table.items()]
    return sorted(result, key=lambda row: (-row.total, row.tag))


def weeks_back(now: datetime, zone: ZoneInfo, count: int) -> list[Period]:
    """The last ``count`` weeks (Monday to Monday in ``zone``), this one last."""
    this = week_of(now, zone)
    return [Period(this.start - timedelta(weeks=n), this.end - timedelta(weeks=n)) for n in range(count - 1, -1, -1)]


def week_label(period: Period, zone: ZoneInfo) -> str:
    start = period.start.astimezone(zone)
    return f"{start.month:02d}-{start.day:02d}"


@dataclass(frozen=True, slots=True)
class HeatRow:
    key: str
    label: str
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)


def by_week(
    missed: Iterable[tuple[str, datetime]], weeks: Sequence[Period], labels: dict[str, str], keep_all: bool
) -> list[HeatRow]:
    """Rows of counts per week, one per key (member or group): busiest first."""
    counts: dict[str, list[int]] = {key: [0] * len(weeks) for key in labels} if keep_all else {}
    for key, moment in missed:
        for index, week in enumerate(weeks):
            if moment in week:
                counts.setdefault(key, [0] * len(weeks))[index] += 1
                break
    rows = [HeatRow(key, name_of(key, labels), values) for key, values in counts.items()]
    return sorted(rows, key=lambda row: (-row.total, row.label))


def heat_class(count: int, top: int) -> str:
    """``h0`` (none) to ``h4`` (the most in the table)."""
    if count <= 0 or top <= 0:
        return "h0"
    return f"h{min(4, 1 + (count * 4 - 1) // top)}"


# --- trends ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrendWeek:
    label: str
    figures: Figures

    @property
    def overdue(self) -> int:
        return len(self.figures.overdue)


def hours(delta: timedelta | None) -> float | None:
    return round(delta.total_seconds() / 3600, 1) if delta is not None else None


def percent(rate: float | None) -> float | None:
    return round(rate * 100) if rate is not None else None


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    css: str
    values: list[float | None]


@dataclass
class Chart:
    """An inline SVG line chart: coordinates worked out here, the template only draws them."""

    series: list[Series]
    labels: list[str]
    width: int = 640
    height: int = 180
    pad: int = 28
    top: float = field(init=False)

    def __post_init__(self) -> None:
        present = [v for s in self.series for v in s.values if v is not None]
        self.top = max(present, default=0) or 1

    def x(self, index: int) -> float:
        span = self.width - 2 * self.pad
        return round(self.pad + span * index / max(len(self.labels) - 1, 1), 1)

    def y(self, value: float) -> float:
        span = self.height - 2 * self.pad
        return round(self.height - self.pad - span * value / self.top, 1)

    def points(self, series: Series) -> str:
        return " ".join(f"{self.x(i)},{self.y(v)}" for i, v in enumerate(series.values) if v is not None)

    def dots(self, series: Series) -> list[tuple[float, float, float, str]]:
        return [(self.x(i), self.y(v), v, self.labels[i]) for i, v in enumerate(series.values) if v is not None]


# --- organisation ---------------------------------------------------------------------------

SORT_KEYS = ("name", "open", "overdue", "on_time", "collab", "last")


def time_text(moment: datetime | None, zone: ZoneInfo, t: Catalog) -> str:
    return local_time(moment, zone) if moment is not None else t("page.none")
