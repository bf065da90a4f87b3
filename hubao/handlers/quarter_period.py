"""Calendar quarters in a group's time zone (shared by goals, the quarterly report and its timer)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from hubao.handlers.metrics import Period


def _start(day: date) -> date:
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def _shift(start: date, quarters: int) -> date:
    index = start.year * 12 + start.month - 1 + 3 * quarters
    return date(index // 12, index % 12 + 1, 1)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def quarter_period(now: datetime, zone: ZoneInfo, offset: int = 0) -> Period:
    """The quarter around ``now`` (``offset`` 0), the one before (-1), and so on."""
    start = _shift(_start(now.astimezone(zone).date()), offset)
    return Period(_midnight(start, zone), _midnight(_shift(start, 1), zone))


def quarter_label(period: Period, zone: ZoneInfo) -> str:
    """``2026 Q4``."""
    start = period.start.astimezone(zone).date()
    return f"{start.year} Q{(start.month - 1) // 3 + 1}"
