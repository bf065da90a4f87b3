"""When the clock of a window runs: always (wall clock) or only in working time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol


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
