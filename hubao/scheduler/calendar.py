"""When the clock of a window runs: always (wall clock) or only in working time.

``always`` (the default) counts wall-clock time and lets pings out at any minute.
``workdays`` counts working time only: working hours on working days, in the group's
time zone. Working days are Monday–Friday, minus Chinese public holidays, plus the
调休 make-up days (the ``chinesecalendar`` package), with an optional data file for years
the package does not cover (or to correct it)::

    # holidays.toml (or the same keys in a .json file)
    holidays = ["2031-01-01", "2031-10-01..2031-10-07"]
    workdays = ["2031-09-28"]   # 调休: a weekend day that is worked

A date listed in the file wins over the package; a year neither covers falls back to
Monday–Friday.

How ``WorkdaysCalendar.add`` counts a span:

- a span of whole days counts working days: 24 h after Tuesday 10:00 is Wednesday 10:00,
  24 h after Friday 10:00 is Monday 10:00 (the same time of day on the Nth working day);
- any other span counts working minutes: 1 h after 17:30 is 09:30 on the next working day.

A start outside working time counts from the next working minute.
"""

from __future__ import annotations

import json
import logging
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import chinese_calendar

DAY = timedelta(days=1)
# No real calendar has this many non-working days in a row; the bound stops a bad data file
# (every day a holiday) from looping forever.
MAX_CLOSED_DAYS = 400


log = logging.getLogger("hubao.calendar")


class Calendar(Protocol):
    def add(self, start: datetime, span: timedelta) -> datetime:
        """The moment ``span`` of counted time after ``start``."""
        ...

    def next_open(self, moment: datetime) -> datetime:
        """``moment`` itself if pings may go out then, else the next minute they may."""
        ...


class AlwaysCalendar:
    def add(self, start: datetime, span: timedelta) -> datetime:
        return start + span

    def next_open(self, moment: datetime) -> datetime:
        return moment


ALWAYS = AlwaysCalendar()


class CalendarError(ValueError):
    """A bad working-hours string or holidays file; the message names what is wrong."""


@dataclass(frozen=True)
class Holidays:
    """Which dates are working days: the data file's entries, then chinesecalendar, then Mon–Fri."""

    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    _cache: dict[date, bool] = field(default_factory=dict, compare=False, repr=False)
    _warned: set[int] = field(default_factory=set, compare=False, repr=False)

    def is_workday(self, day: date) -> bool:
        known = self._cache.get(day)
        if known is None:
            known = self._cache[day] = self._decide(day)
        return known

    def _decide(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:  # a year the package does not cover
            if day.year not in self._warned and day.year not in self.file_years:
                self._warned.add(day.year)
                log.warning(
                    "no holiday data for %s: counting Monday-Friday as working days; "
                    "list that year's holidays and make-up days in [escalation] holidays_file", day.year
                )
            return day.weekday() < 5

    @property
    def file_years(self) -> frozenset[int]:
        return frozenset(d.year for d in self.extra_holidays | self.extra_workdays)

    def uncovered_years(self, years: Iterable[int]) -> list[int]:
        """Years for which neither the data package nor the holidays file knows the holidays."""
        gaps = []
        for year in years:
            try:
                chinese_calendar.is_workday(date(year, 12, 31))
            except NotImplementedError:
                if year not in self.file_years:
                    gaps.append(year)
        return gaps

    @classmethod
    def load(cls, path: str | Path | None) -> Holidays:
        """The built-in data, corrected/extended by ``path`` (TOML or JSON) when given."""
        if not path:
            return cls()
        file = Path(path)
        try:
            raw = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise CalendarError(f"holidays file {file}: {exc.strerror or exc}") from exc
        try:
            data: Any = json.loads(raw) if file.suffix.lower() == ".json" else tomllib.loads(raw)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise CalendarError(f"holidays file {file}: {exc}") from exc
        if not isinstance(data, dict) or set(data) - {"holidays", "workdays"}:
            raise CalendarError(f"holidays file {file}: expected only the keys 'holidays' and 'workdays'")
        holidays = _dates(data.get("holidays", []), file)
        workdays = _dates(data.get("workdays", []), file)
        both = holidays & workdays
        if both:
            raise CalendarError(f"holidays file {file}: {min(both)} is listed as holiday and workday")
        return cls(frozenset(holidays), frozenset(workdays))


def _dates(items: Iterable[Any], file: Path) -> set[date]:
    if isinstance(items, str) or not isinstance(items, list):
        raise CalendarError(f"holidays file {file}: 'holidays' and 'workdays' must be lists of dates")
    out: set[date] = set()
    for item in items:
        text = str(item).strip()
        try:
            if ".." in text:
                first_text, _, last_text = text.partition("..")
                first, last = date.fromisoformat(first_text.strip()), date.fromisoformat(last_text.strip())
                if last < first or (last - first).days > 366:
                    raise ValueError("bad range")
                out.update(first + timedelta(days=i) for i in range((last - first).days + 1))
            else:
                out.add(date.fromisoformat(text))
        except ValueError as exc:
            raise CalendarError(f"holidays file {file}: cannot read date {text!r}") from exc
    return out


def parse_work_hours(text: str) -> tuple[time, time]:
    """``"09:00-18:00"`` → (09:00, 18:00); the end must be after the start."""
    start_text, sep, end_text = text.partition("-")
    try:
        if not sep:
            raise ValueError(text)
        start, end = _clock(start_text), _clock(end_text)
    except ValueError as exc:
        raise CalendarError(f"working hours {text!r}: expected HH:MM-HH:MM") from exc
    if end <= start:
        raise CalendarError(f"working hours {text!r}: the end must be after the start")
    return start, end


def _clock(text: str) -> time:
    hour, _, minute = text.strip().partition(":")
    return time(int(hour), int(minute or 0))


class WorkdaysCalendar:
    """Working hours on working days in one time zone."""

    def __init__(
        self,
        zone: ZoneInfo,
        start: time = time(9),
        end: time = time(18),
        is_workday: Callable[[date], bool] | None = None,
    ) -> None:
        if end <= start:
            raise CalendarError("working hours must end after they start")
        self.zone = zone
        self.start = start
        self.end = end
        self.is_workday = is_workday or Holidays().is_workday

    def _at(self, day: date, moment: time) -> datetime:
        return datetime.combine(day, moment, self.zone).astimezone(UTC)

    def _next_workday(self, day: date) -> date:
        for _ in range(MAX_CLOSED_DAYS):
            day += DAY
            if self.is_workday(day):
                return day
        raise CalendarError(f"no working day within {MAX_CLOSED_DAYS} days after {day}")

    def next_open(self, moment: datetime) -> datetime:
        local = moment.astimezone(self.zone)
        day = local.date()
        if self.is_workday(day):
            if local.time() < self.start:
                return self._at(day, self.start)
            if local.time() < self.end:
                return moment
        return self._at(self._next_workday(day), self.start)

    def add(self, start: datetime, span: timedelta) -> datetime:
        if span <= timedelta(0):
            return start
        at = self.next_open(start)
        if span % DAY == timedelta(0):
            local = at.astimezone(self.zone)
            day, clock = local.date(), local.time()
            for _ in range(span // DAY):
                day = self._next_workday(day)
            return datetime.combine(day, clock, self.zone).astimezone(UTC)
        remaining = span
        while True:
            closing = self._at(at.astimezone(self.zone).date(), self.end)
            if at + remaining <= closing:
                return at + remaining
            remaining -= closing - at
            at = self.next_open(closing)


class CalendarBook:
    """``calendar_for(group)``: each group's calendar from its settings, else the config's.

    Reads ``group.calendar``, ``group.work_hours`` and ``group.timezone`` (any object with those
    attributes); calendars are cached per distinct setting.
    """

    def __init__(self, escalation: Any, default_zone: str) -> None:
        self.default_kind: str = escalation.calendar
        self.default_hours: str = escalation.work_hours
        self.default_zone = default_zone
        self.holidays = Holidays.load(escalation.holidays_file or None)
        parse_work_hours(self.default_hours)
        self._cache: dict[tuple[str, str, str], Calendar] = {}

    def __call__(self, group: Any) -> Calendar:
        return self.for_group(group)

    def for_group(self, group: Any) -> Calendar:
        kind = (getattr(group, "calendar", None) or self.default_kind) if group is not None else self.default_kind
        if kind != "workdays":
            return ALWAYS
        hours = getattr(group, "work_hours", None) or self.default_hours
        zone = getattr(group, "timezone", None) or self.default_zone
        key = (kind, hours, zone)
        calendar = self._cache.get(key)
        if calendar is None:
            try:
                start, end = parse_work_hours(hours)
            except CalendarError:  # a bad per-group value must not stop escalations
                start, end = parse_work_hours(self.default_hours)
            calendar = self._cache[key] = WorkdaysCalendar(ZoneInfo(zone), start, end, self.holidays.is_workday)
        return calendar
