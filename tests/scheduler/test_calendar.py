"""Working time: hours, Chinese public holidays, 调休 make-up days, time zones, the data file."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from hubao.scheduler.calendar import ALWAYS, CalendarBook, CalendarError, Holidays, WorkdaysCalendar, parse_work_hours

SH = ZoneInfo("Asia/Shanghai")
H = timedelta(hours=1)


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SH).astimezone(UTC)  # type: ignore[misc]


@pytest.fixture
def workdays() -> WorkdaysCalendar:
    return WorkdaysCalendar(SH, time(9), time(18), Holidays().is_workday)


def test_the_data_knows_national_day_2026_and_its_make_up_saturday() -> None:
    holidays = Holidays()
    assert not holidays.is_workday(date(2026, 10, 1))  # Thursday, National Day
    assert not holidays.is_workday(date(2026, 10, 7))
    assert holidays.is_workday(date(2026, 10, 8))
    assert holidays.is_workday(date(2026, 10, 10))  # Saturday, 调休
    assert not holidays.is_workday(date(2026, 1, 1))  # New Year
    assert holidays.is_workday(date(2026, 1, 4))  # Sunday, 调休


def test_next_open_inside_hours_is_the_moment_itself(workdays: WorkdaysCalendar) -> None:
    assert workdays.next_open(local(2026, 11, 23, 10, 17)) == local(2026, 11, 23, 10, 17)


def test_next_open_after_hours_before_a_weekend(workdays: WorkdaysCalendar) -> None:
    assert workdays.next_open(local(2026, 11, 27, 18, 0)) == local(2026, 11, 30, 9, 0)  # Fri 18:00 → Mon
    assert workdays.next_open(local(2026, 11, 23, 7, 59)) == local(2026, 11, 23, 9, 0)


def test_next_open_skips_national_day_but_not_the_make_up_saturday(workdays: WorkdaysCalendar) -> None:
    assert workdays.next_open(local(2026, 9, 30, 19, 0)) == local(2026, 10, 8, 9, 0)
    assert workdays.next_open(local(2026, 10, 9, 20, 0)) == local(2026, 10, 10, 9, 0)  # Saturday 调休


def test_an_hour_window_counts_working_minutes_across_the_holiday(workdays: WorkdaysCalendar) -> None:
    assert workdays.add(local(2026, 9, 30, 17, 30), H) == local(2026, 10, 8, 9, 30)
    assert workdays.add(local(2026, 11, 23, 10, 0), 3 * H) == local(2026, 11, 23, 13, 0)
    assert workdays.add(local(2026, 11, 23, 17, 0), 10 * H) == local(2026, 11, 24, 18, 0)
    assert workdays.add(local(2026, 11, 28, 11, 0), H) == local(2026, 11, 30, 10, 0)  # Saturday → Monday


def test_a_day_window_counts_working_days(workdays: WorkdaysCalendar) -> None:
    assert workdays.add(local(2026, 11, 24, 10, 0), 24 * H) == local(2026, 11, 25, 10, 0)
    assert workdays.add(local(2026, 11, 27, 10, 0), 24 * H) == local(2026, 11, 30, 10, 0)  # Fri → Mon
    assert workdays.add(local(2026, 10, 9, 10, 0), 24 * H) == local(2026, 10, 10, 10, 0)  # → 调休 Saturday
    assert workdays.add(local(2026, 9, 30, 15, 0), 24 * H) == local(2026, 10, 8, 15, 0)
    assert workdays.add(local(2026, 9, 30, 20, 0), 24 * H) == local(2026, 10, 9, 9, 0)  # starts Oct 8 09:00


def test_time_zone_of_the_group_is_used() -> None:
    london = WorkdaysCalendar(ZoneInfo("Europe/London"), time(9), time(17), Holidays().is_workday)
    at = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 08:00 in London, 16:00 in Shanghai
    assert london.next_open(at) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_always_is_the_wall_clock() -> None:
    moment = local(2026, 10, 1, 3, 0)
    assert ALWAYS.next_open(moment) == moment
    assert ALWAYS.add(moment, H) == moment + H


def test_holidays_file_extends_years_the_package_does_not_cover(tmp_path: Path) -> None:
    path = tmp_path / "holidays.toml"
    path.write_text('holidays = ["2031-10-01..2031-10-07"]\nworkdays = ["2031-09-28"]\n', encoding="utf-8")
    holidays = Holidays.load(path)
    assert not holidays.is_workday(date(2031, 10, 3))
    assert holidays.is_workday(date(2031, 9, 28))  # a Sunday made a working day
    assert holidays.is_workday(date(2031, 10, 8))  # plain weekday
    assert not holidays.is_workday(date(2031, 10, 11))  # plain Saturday


def test_holidays_file_in_json_wins_over_the_package(tmp_path: Path) -> None:
    path = tmp_path / "holidays.json"
    path.write_text(json.dumps({"workdays": ["2026-10-02"], "holidays": ["2026-11-23"]}), encoding="utf-8")
    holidays = Holidays.load(str(path))
    assert holidays.is_workday(date(2026, 10, 2))
    assert not holidays.is_workday(date(2026, 11, 23))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('holidays = ["2031-13-01"]', "cannot read date '2031-13-01'"),
        ('holiday = ["2031-01-01"]', "expected only the keys"),
        ('holidays = "2031-01-01"', "must be lists"),
        ('holidays = ["2031-01-01"]\nworkdays = ["2031-01-01"]', "listed as holiday and workday"),
        ("holidays = [", "holidays.toml"),
    ],
)
def test_bad_holidays_file_names_the_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "holidays.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CalendarError, match=message.replace("(", r"\(")):
        Holidays.load(path)


def test_missing_holidays_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CalendarError, match="holidays file"):
        Holidays.load(tmp_path / "nope.toml")


def test_work_hours_are_validated() -> None:
    assert parse_work_hours("08:30-17:45") == (time(8, 30), time(17, 45))
    for bad in ("9-", "18:00-09:00", "nine to five", "25:00-26:00"):
        with pytest.raises(CalendarError):
            parse_work_hours(bad)


def test_calendar_book_reads_group_settings_over_config() -> None:
    escalation = SimpleNamespace(calendar="always", work_hours="09:00-18:00", holidays_file="")
    book = CalendarBook(escalation, "Asia/Shanghai")
    assert book(SimpleNamespace(calendar=None, work_hours=None, timezone=None)) is ALWAYS
    group = SimpleNamespace(calendar="workdays", work_hours="10:00-16:00", timezone="Asia/Tokyo")
    calendar = book(group)
    assert isinstance(calendar, WorkdaysCalendar)
    assert (calendar.start, calendar.end, calendar.zone.key) == (time(10), time(16), "Asia/Tokyo")
    assert book(group) is calendar  # cached
    broken = book(SimpleNamespace(calendar="workdays", work_hours="junk", timezone=None))
    assert isinstance(broken, WorkdaysCalendar) and broken.start == time(9)


def test_a_year_without_holiday_data_is_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    holidays = Holidays()
    with caplog.at_level("WARNING", logger="hubao.calendar"):
        assert holidays.is_workday(date(2031, 1, 1)) is True  # a Wednesday; no data for 2031
        assert holidays.is_workday(date(2031, 1, 2)) is True
    warnings = [r for r in caplog.records if "2031" in r.getMessage()]
    assert len(warnings) == 1
    assert holidays.uncovered_years([2026, 2031]) == [2031]
    covered = Holidays(extra_holidays=frozenset({date(2031, 1, 1)}))
    assert covered.uncovered_years([2031]) == [] and covered.is_workday(date(2031, 1, 1)) is False
