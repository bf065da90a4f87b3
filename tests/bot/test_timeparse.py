"""Deadlines as people write them, read in the group's time zone and working hours.

"Now" is Wednesday 2026-11-25 10:00 in Shanghai unless a test says otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from hubao.bot.i18n import Catalog
from hubao.bot.timeparse import DeadlineError, explain_deadline, find_deadline, looks_like_deadline, parse_deadline

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Shanghai


def _local(text: str, now: datetime = NOW, zone: ZoneInfo = SH, **kwargs: object) -> str:
    moment = parse_deadline(text, now, zone, **kwargs)  # type: ignore[arg-type]
    assert moment.tzinfo is UTC
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # weekday names: the next such day from today on, at the end of working hours
        ("周五", "2026-11-27 18:00"),
        ("星期五", "2026-11-27 18:00"),
        ("礼拜五", "2026-11-27 18:00"),
        ("周五前", "2026-11-27 18:00"),
        ("周一", "2026-11-30 18:00"),
        ("周三", "2026-11-25 18:00"),  # today, still ahead
        ("星期天", "2026-11-29 18:00"),
        ("周日", "2026-11-29 18:00"),
        ("周5", "2026-11-27 18:00"),  # weekdays written as digits: 周1 is Monday, 周7 Sunday
        ("星期1", "2026-11-30 18:00"),
        ("周7", "2026-11-29 18:00"),
        ("本周五", "2026-11-27 18:00"),
        ("这周五", "2026-11-27 18:00"),
        ("本周五17:00", "2026-11-27 17:00"),
        ("下周一", "2026-11-30 18:00"),
        ("下个周一", "2026-11-30 18:00"),
        ("下周三", "2026-12-02 18:00"),
        ("下下周三", "2026-12-09 18:00"),
        ("下周一上午10点", "2026-11-30 10:00"),
        # Chinese dates
        ("12月5日", "2026-12-05 18:00"),
        ("12月5号", "2026-12-05 18:00"),
        ("12月5日15:00", "2026-12-05 15:00"),
        ("12月5日 下午3点", "2026-12-05 15:00"),
        ("2027年1月8日", "2027-01-08 18:00"),
        ("1月5日", "2027-01-05 18:00"),  # January written in November: next year's
        ("5号", "2026-12-05 18:00"),  # the 5th written on the 25th: next month's
        ("28号", "2026-11-28 18:00"),
        # parts of the day
        ("上午11点", "2026-11-25 11:00"),
        ("下午3点", "2026-11-25 15:00"),
        ("下午三点", "2026-11-25 15:00"),
        ("下午3点半", "2026-11-25 15:30"),
        ("下午3点一刻", "2026-11-25 15:15"),
        ("晚上8点", "2026-11-25 20:00"),
        ("晚上12点", "2026-11-26 00:00"),
        ("中午12点", "2026-11-25 12:00"),
        ("中午1点", "2026-11-25 13:00"),
        ("3点", "2026-11-25 15:00"),  # 1–6 o'clock alone is the afternoon
        ("11点", "2026-11-25 11:00"),
        ("十一点", "2026-11-25 11:00"),
        ("下午", "2026-11-25 18:00"),
        ("明早9点", "2026-11-26 09:00"),
        ("明早", "2026-11-26 09:00"),
        ("明天早上", "2026-11-26 09:00"),
        ("明天下午三点", "2026-11-26 15:00"),
        ("今晚", "2026-11-25 22:00"),
        ("明晚8点", "2026-11-26 20:00"),
        ("明早7点", "2026-11-26 07:00"),
        ("月底", "2026-11-30 18:00"),
        ("月末", "2026-11-30 18:00"),
        ("下班前", "2026-11-25 18:00"),
        ("周五下班前", "2026-11-27 18:00"),
        # the forms that worked before
        ("后天", "2026-11-27 18:00"),
        ("今天18:00", "2026-11-25 18:00"),
        ("明天", "2026-11-26 18:00"),
        ("18:00", "2026-11-25 18:00"),
        ("１８：００", "2026-11-25 18:00"),  # full-width, as phone keyboards type it
        ("11-30", "2026-11-30 18:00"),
        ("2026-12-01T09:30", "2026-12-01 09:30"),
        ("2h", "2026-11-25 12:00"),
        ("2小时后", "2026-11-25 12:00"),
        ("3天内", "2026-11-28 10:00"),
        # English
        ("fri", "2026-11-27 18:00"),
        ("Friday", "2026-11-27 18:00"),
        ("next monday", "2026-11-30 18:00"),
        ("next fri 9am", "2026-12-04 09:00"),
        ("this fri", "2026-11-27 18:00"),
        ("by fri", "2026-11-27 18:00"),
        ("dec 5", "2026-12-05 18:00"),
        ("dec 5 15:00", "2026-12-05 15:00"),
        ("Dec 5th 3pm", "2026-12-05 15:00"),
        ("5 dec", "2026-12-05 18:00"),
        ("tomorrow 3pm", "2026-11-26 15:00"),
        ("today 5:30pm", "2026-11-25 17:30"),
        ("noon", "2026-11-25 12:00"),
        ("tonight", "2026-11-25 22:00"),
        ("eod", "2026-11-25 18:00"),
        ("fri eod", "2026-11-27 18:00"),
        ("eow", "2026-11-27 18:00"),
        ("end of month", "2026-11-30 18:00"),
        ("in 2h", "2026-11-25 12:00"),
    ],
)
def test_everyday_deadline_forms_are_read_in_the_group_time(text: str, expected: str) -> None:
    assert _local(text) == expected


@pytest.mark.parametrize(
    ("text", "reason", "understood"),
    [
        ("本周一", "past", "2026-11-23 18:00"),  # this week's Monday is gone: say so, don't guess
        ("11月20日", "past", "2026-11-20 18:00"),
        ("9点", "past", "2026-11-25 09:00"),
        ("8:00", "past", "2026-11-25 08:00"),
        ("上午9点", "past", "2026-11-25 09:00"),
        ("2025-01-01", "past", "2025-01-01 18:00"),
        ("2030-01-01", "too_far", "2030-01-01 18:00"),
        ("2月30日", "invalid", None),
        ("13-45", "invalid", None),
        ("25:00", "invalid", None),
        ("上午15点", "invalid", None),
        ("下午3点61分", "invalid", None),
        ("13pm", "invalid", None),
        ("99999d", "too_long", None),
        ("0m", "invalid", None),
        ("去年", "unreadable", None),
        ("周八", "unreadable", None),
        ("下周", "unreadable", None),
        ("someday", "unreadable", None),
        ("friday-ish", "unreadable", None),
        ("", "unreadable", None),
        ("前", "unreadable", None),
        ("by", "unreadable", None),
        ("周五 合同", "unreadable", None),
    ],
)
def test_unusable_deadlines_say_which_moment_was_understood_or_why_not(
    text: str, reason: str, understood: str | None
) -> None:
    with pytest.raises(DeadlineError) as caught:
        parse_deadline(text, NOW, SH)
    assert caught.value.reason == reason
    got = caught.value.understood
    assert (got.astimezone(SH).strftime("%Y-%m-%d %H:%M") if got else None) == understood


def test_the_group_working_hours_decide_what_end_of_day_means() -> None:
    hours = (time(9, 30), time(17, 30))
    assert _local("下班前", work_hours=hours) == "2026-11-25 17:30"
    assert _local("eod", work_hours=hours) == "2026-11-25 17:30"
    assert _local("周五", work_hours=hours) == "2026-11-27 17:30"
    assert _local("明早", work_hours=hours) == "2026-11-26 09:30"
    assert _local("月底", work_hours=hours) == "2026-11-30 17:30"


def test_a_day_alone_can_mean_the_start_of_work_for_snoozing() -> None:
    assert _local("下周一", day_default=time(9, 0)) == "2026-11-30 09:00"
    assert _local("下周一下午3点", day_default=time(9, 0)) == "2026-11-30 15:00"


def test_the_group_time_zone_decides_which_day_it_is() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    late_tuesday = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)  # Wed 06:30 in Shanghai, Tue 23:30 in Berlin
    assert _local("明天", late_tuesday, berlin) == "2026-11-25 18:00"
    assert _local("明天", late_tuesday, SH) == "2026-11-26 18:00"
    assert _local("fri", late_tuesday, berlin) == "2026-11-27 18:00"


def test_after_hours_on_the_day_itself_the_weekday_has_passed() -> None:
    friday_evening = datetime(2026, 11, 27, 11, 0, tzinfo=UTC)  # Friday 19:00 in Shanghai
    with pytest.raises(DeadlineError) as caught:
        parse_deadline("周五", friday_evening, SH)
    assert caught.value.reason == "past"
    assert _local("下周五", friday_evening) == "2026-12-04 18:00"
    with pytest.raises(DeadlineError):
        parse_deadline("下班前", friday_evening, SH)


def test_the_explanation_names_the_moment_in_the_reader_language() -> None:
    with pytest.raises(DeadlineError) as caught:
        parse_deadline("本周一", NOW, SH)
    assert explain_deadline(caught.value, SH, Catalog("zh")) == (
        "截止时间 本周一 理解为 2026-11-23 周一 18:00，已经过去了，请写一个将来的时间"
    )
    assert "reads as 2026-11-23 Mon 18:00, which has passed" in explain_deadline(caught.value, SH, Catalog("en"))
    with pytest.raises(DeadlineError) as unreadable:
        parse_deadline("someday", NOW, SH)
    assert explain_deadline(unreadable.value, SH, Catalog("zh")).startswith("看不懂截止时间 someday，可以写：周五")


@pytest.mark.parametrize(
    ("text", "words", "expected"),
    [
        ("提醒张三周五前把合同盖章", "周五前", "2026-11-27 18:00"),
        ("注意 下周一上午10点 检查库存", "下周一上午10点", "2026-11-30 10:00"),
        ("别忘了 12月5日交发票", "12月5日", "2026-12-05 18:00"),
        ("don't forget the invoice by fri", "by fri", "2026-11-27 18:00"),
        ("库存低于安全线", None, None),
        ("monitor the build", None, None),  # "mon" inside a word is not Monday
    ],
)
def test_a_deadline_written_inside_a_sentence_is_found(text: str, words: str | None, expected: str | None) -> None:
    found = find_deadline(text, NOW, SH)
    if words is None:
        assert found is None
        return
    assert found is not None
    assert (found.words, found.at.astimezone(SH).strftime("%Y-%m-%d %H:%M")) == (words, expected)


def test_the_grammar_tells_the_router_where_a_written_deadline_ends() -> None:
    assert looks_like_deadline("next monday") and looks_like_deadline("dec 5 15:00")
    assert looks_like_deadline("周五 17:00") and looks_like_deadline("2h")
    assert not looks_like_deadline("next") and not looks_like_deadline("周五 合同")
