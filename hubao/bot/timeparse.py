"""Durations and deadlines as people type them: ``90m``, ``2小时``, ``明天``, ``周五``, ``下周一上午10点``,
``12月5日15:00``, ``月底``, ``下班前``, ``next monday``, ``dec 5 15:00``, ``eod``.

``dateparser`` reads bare weekdays and English, but none of 本周五 / 下周一 / 12月5日 / 下午3点 /
明早 / 月底 / 下班前, so deadlines go through the small grammar below: an optional day, then an
optional time of day, each as Chinese or English words, read in the group's time zone; a day
without a time means the end of the group's working hours.
"""

from __future__ import annotations

import re
import unicodedata
from calendar import monthrange
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hubao.bot.i18n import Catalog

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
    result = timedelta(seconds=_duration_seconds(text))
    if result <= timedelta(0) or result > MAX_DURATION:
        raise ValueError(f"duration out of range {text!r}")
    return result


def _duration_seconds(text: str) -> int:
    """The seconds a duration is written as, of any size; ValueError if it is not one."""
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
    return total


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0 and seconds:
        return f"{seconds // 86400}d"
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours and minutes:
        return f"{hours}h{minutes}m"
    return f"{hours}h" if hours else f"{minutes}m"



END_OF_DAY = time(18, 0)
DEFAULT_WORK_HOURS = (time(9, 0), END_OF_DAY)
NOON = time(12, 0)
EVENING = time(22, 0)  # 今晚 / 晚上 / tonight without an hour
# A month-day that passed more than this long ago means next year's (1月5日 written in November).
_NEXT_YEAR_AFTER = timedelta(days=61)


class DeadlineError(ValueError):
    """A deadline that cannot be used.

    ``reason`` is ``unreadable``, ``invalid``, ``past``, ``too_far`` or ``too_long`` (a duration
    of more than a year); ``understood`` is the moment the text was read as, where there was one.
    """

    def __init__(self, text: str, reason: str, understood: datetime | None = None) -> None:
        super().__init__(f"{reason} deadline {text!r}")
        self.text = text
        self.reason = reason
        self.understood = understood


_WEEKDAY_ZH = "一二三四五六日"
_WEEKDAYS_EN = {
    "mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4, "friday": 4,
    "sat": 5, "saturday": 5, "sun": 6, "sunday": 6,
}  # fmt: skip
_MONTHS_EN = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4, "may": 5,
    "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9, "september": 9,
    "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
}  # fmt: skip
_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _words(names: Iterable[str]) -> str:
    return "|".join(sorted(names, key=len, reverse=True))  # longest first: "monday" before "mon"


_DAY = rf"""
(?P<rel>大后天|后天|明天|明日|今天|今日|today|tomorrow|tmrw|tmr)
|(?P<relpart>今早|今晚|今夜|明早|明晨|明晚|tonight)
|(?P<wkpre>下下个?|下个?|本|这个?)?(?:周|星期|礼拜)(?P<wk>[一二三四五六日天1-7])
|(?:(?P<enpre>this|next)\s*)?(?<![a-z])(?P<enwk>{_words(_WEEKDAYS_EN)})(?![a-z])
|(?:(?P<cy>\d{{4}})年)?(?P<cm>\d{{1,2}})月(?P<cd>\d{{1,2}})[日号]?
|(?P<dom>\d{{1,2}})[日号]
|(?P<eom>月底|月末|eom|end\s+of\s+month)
|(?P<eod>下班前|下班|eod|cob|end\s+of\s+day)
|(?P<eow>eow|end\s+of\s+week)
|(?:(?P<iy>\d{{4}})-)?(?P<im>\d{{1,2}})-(?P<id>\d{{1,2}})(?=$|[\st])
|(?<![a-z])(?P<mon>{_words(_MONTHS_EN)})\.?\s*(?P<md>\d{{1,2}})(?:st|nd|rd|th)?(?!\d)
|(?P<md2>\d{{1,2}})(?:st|nd|rd|th)?\s*(?P<mon2>{_words(_MONTHS_EN)})(?![a-z])
"""
_HOUR_ZH = r"\d{1,2}|[零一二两三四五六七八九十]{1,3}"
_CLOCK = rf"""
(?P<part>上午|早上|早晨|凌晨|中午|下午|傍晚|晚上|夜里|早|晚)?\s*
(?:
  (?P<zh>{_HOUR_ZH})\s*[点时]\s*(?P<zhmin>\d{{1,2}}|半|一刻|三刻)?\s*分?
 |(?P<h>\d{{1,2}})\s*[:：]\s*(?P<mi>\d{{2}})(?:\s*(?P<ampm>am|pm))?
 |(?P<eh>\d{{1,2}})\s*(?P<eampm>am|pm)
 |(?P<partonly>(?<=上午|早上|早晨|中午|下午|傍晚|晚上|夜里)|noon|morning|afternoon|evening)
 |(?P<eodclock>下班前|下班|eod|cob|end\s+of\s+day)
)
"""
_GRAMMAR = rf"""
(?:by\s+|before\s+)?
(?:(?:{_DAY})\s*(?:的|t)?\s*)?
(?:{_CLOCK})?
\s*(?:之前|以前|前)?
"""
_DEADLINE = re.compile(_GRAMMAR, re.VERBOSE)
_RELATIVE = re.compile(r"^(?:in\s+)?(?P<span>.+?)\s*(?:之后|以后|后|以内|之内|内|later)?$")
_PART_DEFAULT = {
    "上午": NOON, "中午": time(13, 0), "下午": END_OF_DAY, "傍晚": time(19, 0), "晚上": EVENING, "夜里": EVENING,
    "noon": NOON, "morning": NOON, "afternoon": END_OF_DAY, "evening": EVENING,
}  # fmt: skip
_AFTERNOON = {"下午", "傍晚", "晚上", "夜里", "晚", "pm"}


@dataclass(frozen=True, slots=True)
class Found:
    """A deadline written inside a longer text: the words and the moment they mean."""

    words: str
    at: datetime


def parse_deadline(
    text: str,
    now: datetime,
    tz: ZoneInfo,
    *,
    work_hours: tuple[time, time] = DEFAULT_WORK_HOURS,
    day_default: time | None = None,
) -> datetime:
    """A deadline in the group's time zone, returned in UTC; raises :class:`DeadlineError`.

    Accepts a duration from now (``3h``, ``2小时后``), a day (``明天``, ``周五``, ``下周一``,
    ``12月5日``, ``5号``, ``月底``, ``fri``, ``next monday``, ``dec 5``, ``11-30``,
    ``2026-11-30``), a time of day (``18:00``, ``下午3点``, ``3点半``, ``3pm``, ``下班前``, ``eod``),
    or a day followed by a time. A day alone means ``day_default`` (the end of the working
    hours unless given). The moment must lie in the future, within a year.
    """
    raw = _normalise(text)
    if not raw:
        raise DeadlineError(text, "unreadable")
    relative = _RELATIVE.match(raw)
    if relative and (seconds := _seconds_or_none(relative.group("span"))) is not None:
        if seconds <= 0:
            raise DeadlineError(text, "invalid")
        if seconds > MAX_DURATION.total_seconds():
            raise DeadlineError(text, "too_long")
        return now + timedelta(seconds=seconds)
    match = _DEADLINE.fullmatch(raw)
    if match is None or not _has_day_or_clock(match):
        raise DeadlineError(text, "unreadable")
    result = _moment(match, text, now, tz, work_hours, day_default)
    if result <= now:
        raise DeadlineError(text, "past", result)
    if result - now > MAX_DURATION:
        raise DeadlineError(text, "too_far", result)
    return result


def looks_like_deadline(text: str) -> bool:
    """Whether ``text`` is written in the deadline grammar (whatever moment it would mean)."""
    raw = _normalise(text)
    match = _DEADLINE.fullmatch(raw)
    return bool(raw) and ((match is not None and _has_day_or_clock(match)) or _is_duration(raw))


def find_deadline(
    text: str, now: datetime, tz: ZoneInfo, *, work_hours: tuple[time, time] = DEFAULT_WORK_HOURS
) -> Found | None:
    """The first future deadline written inside free text (``提醒张三周五前交合同``), if any."""
    raw = _normalise(text)
    for match in _DEADLINE.finditer(raw):
        if not _has_day_or_clock(match):
            continue
        try:
            at = _moment(match, text, now, tz, work_hours, None)
        except DeadlineError:
            continue
        if now < at and at - now <= MAX_DURATION:
            return Found(match.group(0).strip(), at)
    return None


def _moment(
    match: re.Match[str], text: str, now: datetime, tz: ZoneInfo, work_hours: tuple[time, time],
    day_default: time | None,
) -> datetime:  # fmt: skip
    today = now.astimezone(tz).date()
    clock = _clock(match, text, work_hours)
    try:
        day, day_clock = _day(match, today, work_hours)
    except ValueError as exc:
        raise DeadlineError(text, "invalid") from exc
    if clock is None:
        clock = day_clock or day_default or work_hours[1]
    elif isinstance(clock, _Bare):
        # 3点 / 3:00 with no 上午/下午: 明晚8点 is in the evening, 明早7点 in the morning, and
        # otherwise 1–6 o'clock is the afternoon, as people mean it.
        evening = day_clock == EVENING and clock.hour < 12
        afternoon = day_clock is None and 1 <= clock.hour <= 6
        clock = time(clock.hour + 12 if evening or afternoon else clock.hour, clock.minute)
    # A time of day alone means today; one that has passed is reported, not moved to tomorrow.
    late = timedelta(days=1) if clock == time(0) and match.group("part") in ("晚上", "夜里") else timedelta(0)
    return datetime.combine((day or today) + late, clock, tz).astimezone(UTC)


def explain_deadline(error: DeadlineError, tz: ZoneInfo, t: Catalog) -> str:
    """What to tell the person: the moment understood and why it cannot be used, or how to write one."""
    text = error.text.strip()[:40]
    if error.understood is None:
        return t(f"due.{error.reason}", due=text)
    return t(f"due.{error.reason}", due=text, at=describe_moment(error.understood, tz, t))


def describe_moment(at: datetime, tz: ZoneInfo, t: Catalog, *, with_year: bool = True) -> str:
    """A moment as people read it in the group's zone: ``2026-12-05 周五 15:00`` (``12-05 周五 15:00``)."""
    local = at.astimezone(tz)
    weekday = t("due.weekdays").split()[local.weekday()]
    day = f"{local.month:02d}-{local.day:02d}"
    return f"{f'{local.year}-' if with_year else ''}{day} {weekday} {local.hour:02d}:{local.minute:02d}"


class _Bare(time):
    """An hour written without 上午/下午/am/pm."""


def _clock(match: re.Match[str], text: str, work_hours: tuple[time, time]) -> time | None:
    part = match.group("part") or ""
    if match.group("eodclock"):
        return work_hours[1]
    if match.group("partonly") is not None:
        word = match.group("partonly") or part
        return work_hours[0] if word in ("早上", "早晨", "morning") else _PART_DEFAULT[word]
    if match.group("zh"):
        hour = _cn_number(match.group("zh"))
        minute = _minute(match.group("zhmin"))
        ampm = ""
    elif match.group("h"):
        hour, minute = int(match.group("h")), int(match.group("mi"))
        ampm = match.group("ampm") or ""
    elif match.group("eh"):
        hour, minute = int(match.group("eh")), 0
        ampm = match.group("eampm")
    else:
        return None
    if hour is None or minute is None or minute > 59:
        raise DeadlineError(text, "invalid")
    if ampm:
        if not 1 <= hour <= 12:
            raise DeadlineError(text, "invalid")
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    elif (part in _AFTERNOON and hour < 12) or (part == "中午" and hour <= 2):
        hour += 12
    elif part in ("上午", "早上", "早晨", "早", "凌晨") and hour > 12:
        raise DeadlineError(text, "invalid")  # 上午15点
    if part in ("晚上", "夜里") and hour in (12, 24):
        hour = 0  # 晚上12点: midnight at the end of that day
    if hour > 23 or (hour == 24 and minute):
        raise DeadlineError(text, "invalid")
    if not part and not ampm:
        return _Bare(hour, minute)
    return time(hour, minute)


def _day(match: re.Match[str], today: date, work_hours: tuple[time, time]) -> tuple[date | None, time | None]:
    """The day written, and the time the day word itself implies (明早 → start of work)."""
    g = match.group
    if g("rel"):
        offsets = {"今天": 0, "今日": 0, "today": 0, "明天": 1, "明日": 1, "tomorrow": 1, "tmr": 1, "tmrw": 1,
                   "后天": 2, "大后天": 3}  # fmt: skip
        return today + timedelta(days=offsets[g("rel")]), None
    if g("relpart"):
        word = g("relpart")
        day = today + timedelta(days=1 if word.startswith("明") else 0)
        return day, (work_hours[0] if word in ("今早", "明早", "明晨") else EVENING)
    if g("wk"):
        weekday = int(g("wk")) - 1 if g("wk").isdigit() else _weekday_zh(g("wk"))  # 周1 is Monday
        weeks = {None: None, "本": 0, "这": 0, "这个": 0, "下": 1, "下个": 1, "下下": 2, "下下个": 2}[g("wkpre")]
        return _weekday(today, weekday, weeks), None
    if g("enwk"):
        weeks = {None: None, "this": 0, "next": 1}[g("enpre")]
        return _weekday(today, _WEEKDAYS_EN[g("enwk")], weeks), None
    if g("cm"):
        return _month_day(today, int(g("cy")) if g("cy") else None, int(g("cm")), int(g("cd"))), None
    if g("mon"):
        return _month_day(today, None, _MONTHS_EN[g("mon")], int(g("md"))), None
    if g("mon2"):
        return _month_day(today, None, _MONTHS_EN[g("mon2")], int(g("md2"))), None
    if g("im"):
        year = int(g("iy")) if g("iy") else today.year
        return date(year, int(g("im")), int(g("id"))), None
    if g("dom"):
        day_of_month = int(g("dom"))
        if day_of_month < today.day:  # 5号 written on the 30th: next month's
            year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
            return date(year, month, day_of_month), None
        return date(today.year, today.month, day_of_month), None
    if g("eom"):
        return date(today.year, today.month, monthrange(today.year, today.month)[1]), work_hours[1]
    if g("eod"):
        return today, work_hours[1]
    if g("eow"):
        return _weekday(today, 4, 0), work_hours[1]
    return None, None


def _weekday(today: date, weekday: int, weeks_ahead: int | None) -> date:
    """周五 (``None``): the next Friday from today on; 本周五 (0) this week's; 下周一 (1) next week's."""
    if weeks_ahead is None:
        return today + timedelta(days=(weekday - today.weekday()) % 7)
    monday = today - timedelta(days=today.weekday())
    return monday + timedelta(weeks=weeks_ahead, days=weekday)


def _weekday_zh(char: str) -> int:
    return 6 if char in "日天" else _WEEKDAY_ZH.index(char)


def _month_day(today: date, year: int | None, month: int, day: int) -> date:
    if year is not None:
        return date(year, month, day)
    result = date(today.year, month, day)
    if today - result > _NEXT_YEAR_AFTER:
        result = date(today.year + 1, month, day)
    return result


def _cn_number(text: str) -> int | None:
    """``3`` / ``三`` / ``十一`` / ``二十三`` → int (0–24); None if malformed."""
    if text.isdigit():
        return int(text)
    if "十" in text:
        tens_text, _, units_text = text.partition("十")
        tens = _CN_DIGITS.get(tens_text, -1) if tens_text else 1
        units = _CN_DIGITS.get(units_text, -1) if units_text else 0
        return None if tens < 0 or units < 0 or "十" in units_text else tens * 10 + units
    return _CN_DIGITS.get(text) if len(text) == 1 else None


def _minute(text: str | None) -> int | None:
    if not text:
        return 0
    return {"半": 30, "一刻": 15, "三刻": 45}.get(text) if not text.isdigit() else int(text)


def _has_day_or_clock(match: re.Match[str]) -> bool:
    """Not just the optional words around one ("前", "by"): the partonly group matches empty after 下午."""
    return match.group("partonly") is not None or any(
        match.group(name)
        for name in ("rel", "relpart", "wk", "enwk", "cm", "dom", "eom", "eod", "eow", "im", "mon", "mon2",
                     "zh", "h", "eh", "eodclock")
    )  # fmt: skip


def _is_duration(raw: str) -> bool:
    relative = _RELATIVE.match(raw)
    return _seconds_or_none(relative.group("span") if relative else raw) is not None


def _seconds_or_none(text: str) -> int | None:
    try:
        return _duration_seconds(text)
    except ValueError:
        return None


def _normalise(text: str) -> str:
    # NFKC folds full-width digits and colons (１８：００) into ASCII; spaces are kept for English.
    return " ".join(unicodedata.normalize("NFKC", text).strip().lower().split())
