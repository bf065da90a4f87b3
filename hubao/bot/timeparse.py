"""Durations and deadlines as people type them: ``90m``, ``1h30m``, ``2小时``, ``明天``, ``18:00``."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_DURATION = timedelta(days=366)

_UNITS = {
    "s": 1, "sec": 1, "秒": 1,
    "m": 60, "min": 60, "分": 60, "分钟": 60,
    "h": 3600, "hr": 3600, "小时": 3600, "时": 3600,
    "d": 86400, "day": 86400, "days": 86400, "天": 86400,
    "w": 604800, "week": 604800, "周": 604800,
}  # fmt: skip
_PART = re.compile(r"(\d{1,6})\s*(分钟|小时|days|day|week|min|sec|hr|[smhdw秒分时天周])", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    """Parse ``1h30m``/``90m``/``2小时``/``1天``; raise ValueError if malformed or absurd."""
    raw = text.strip().lower()
    if not raw:
        raise ValueError("empty duration")
    pos, total = 0, 0
    for match in _PART.finditer(raw):
        if raw[pos : match.start()].strip():
            raise ValueError(f"bad duration {text!r}")
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or raw[pos:].strip():
        raise ValueError(f"bad duration {text!r}")
    result = timedelta(seconds=total)
    if result <= timedelta(0) or result > MAX_DURATION:
        raise ValueError(f"duration out of range {text!r}")
    return result


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0 and seconds:
        return f"{seconds // 86400}d"
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours and minutes:
        return f"{hours}h{minutes}m"
    return f"{hours}h" if hours else f"{minutes}m"


_DAY_WORDS = {"今天": 0, "today": 0, "明天": 1, "tomorrow": 1, "后天": 2}
_CLOCK = re.compile(r"^(\d{1,2})[:：点](\d{2})?$")
_DATE = re.compile(r"^(?:(\d{4})-)?(\d{1,2})-(\d{1,2})(?:[Tt ](\d{1,2}):(\d{2}))?$")
END_OF_DAY = time(18, 0)


def parse_deadline(text: str, now: datetime, tz: ZoneInfo) -> datetime:
    """A deadline in the group's time zone, returned in UTC.

    Accepts a duration from now (``3h``), a day word with an optional clock time
    (``明天``, ``明天18:00``, ``tomorrow``), a clock time today (``18:00``) or a date
    (``11-30``, ``2026-11-30``, ``2026-11-30T18:00``). Must lie in the future, within a year.
    """
    raw = text.strip().lower()
    local_now = now.astimezone(tz)
    result: datetime | None = None
    for word, days in _DAY_WORDS.items():
        if raw.startswith(word):
            rest = raw[len(word) :].strip()
            clock = _parse_clock(rest) if rest else END_OF_DAY
            day = local_now.date() + timedelta(days=days)
            result = datetime.combine(day, clock, tz)
            break
    if result is None and _CLOCK.match(raw):
        result = datetime.combine(local_now.date(), _parse_clock(raw), tz)
    if result is None and (m := _DATE.match(raw)):
        year = int(m.group(1)) if m.group(1) else local_now.year
        try:
            day = date(year, int(m.group(2)), int(m.group(3)))
            clock = time(int(m.group(4)), int(m.group(5))) if m.group(4) else END_OF_DAY
        except ValueError as exc:
            raise ValueError(f"bad date {text!r}") from exc
        result = datetime.combine(day, clock, tz)
    if result is None:
        result = now + parse_duration(raw)
    result = result.astimezone(UTC)
    if result <= now:
        raise ValueError(f"deadline in the past {text!r}")
    if result - now > MAX_DURATION:
        raise ValueError(f"deadline too far {text!r}")
    return result


def _parse_clock(text: str) -> time:
    m = _CLOCK.match(text.strip())
    if not m:
        raise ValueError(f"bad time {text!r}")
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if hour > 23 or minute > 59:
        raise ValueError(f"bad time {text!r}")
    return time(hour, minute)
