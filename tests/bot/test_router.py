from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hubao.bot.events import Button, InboundEvent, Mention, User
from hubao.bot.router import ArgKind, Level, Role, Router, UnknownCommand, UsageError
from hubao.bot.timeparse import parse_deadline, parse_duration

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
SH = ZoneInfo("Asia/Shanghai")


def _router() -> Router:
    r = Router()

    async def noop(_ctx: object) -> None:
        return None

    r.command("risk", aliases=["风险"], roles=Role.MEMBER, usage="/risk <text> [@owner] [!level] [#tag] [due:<t>]",
              summary="help.risk")(noop)
    r.command("ack", aliases=["收到"], roles=Role.OWNER, usage="/ack <#n>", summary="help.ack")(noop)
    r.command("meeting start", aliases=["例会 start"], roles=Role.LEADER, usage="/meeting start [title]",
              summary="help.risk")(noop)
    r.command("meeting", roles=Role.MEMBER, usage="/meeting [x]", summary="help.risk")(noop)
    return r


def _event(text: str, mentions: tuple[Mention, ...] = ()) -> InboundEvent:
    return InboundEvent("feishu", "oc_1", User("feishu:ou_a", "A"), text, "m1", NOW, mentions=mentions)


def test_usage_declares_argument_kinds() -> None:
    spec = _router().get("risk")
    assert spec is not None
    assert spec.requires == {ArgKind.WORDS}
    assert spec.accepts == {ArgKind.WORDS, ArgKind.USER, ArgKind.LEVEL, ArgKind.TAG, ArgKind.DUE}


def test_parses_mentions_levels_tags_and_due() -> None:
    bob = User("feishu:ou_b", "Bob")
    inv = _router().parse(
        _event("/风险 库存 低 @_user_2 !高 #数据安全 #12 due:明天", (Mention(bob, "@_user_2"),))
    )
    assert inv.spec.name == "risk"
    args = inv.args
    assert args.users == (bob,) and args.level is Level.HIGH and args.due == "明天"
    assert args.tags == ("数据安全",) and args.text == "库存 低 #12"  # a number is text unless #n is taken


def test_unmatched_at_names_are_left_for_the_group_roster() -> None:
    assert _router().parse(_event("/risk 坏了 @张三")).args.unresolved == ("张三",)


def test_two_word_commands_win_and_full_width_slash_works() -> None:
    r = _router()
    assert r.parse(_event("／meeting start 周会")).spec.name == "meeting start"
    assert r.parse(_event("/例会 start")).spec.name == "meeting start"
    assert r.parse(_event("/meeting other")).spec.name == "meeting"


@pytest.mark.parametrize("text", ["/ack", "/ack #x", "/ack #1 extra", "/risk", "/risk 坏了 !极高"])
def test_bad_arguments_raise_usage(text: str) -> None:
    with pytest.raises(UsageError):
        _router().parse(_event(text))


def test_unknown_words_raise_unknown_command() -> None:
    with pytest.raises(UnknownCommand) as caught:
        _router().parse(_event("/nope 1"))
    assert caught.value.word == "/nope"


def test_a_command_word_cannot_be_declared_twice() -> None:
    r = _router()

    async def noop(_ctx: object) -> None:
        return None

    with pytest.raises(ValueError, match="declared twice"):
        r.command("收到", roles=Role.MEMBER, usage="/x", summary="help.ack")(noop)


def test_button_payloads_round_trip_and_reject_forgeries() -> None:
    button = Button("resolve", 12, "解决")
    assert Button.from_value(button.to_value()) == Button("resolve", 12)
    assert button.command == "/resolve #12"
    assert Button("snooze", 3).command == "/snooze #3 1h"
    for bad in ['{"hubao":"drop","risk":1}', '{"hubao":"ack","risk":true}', "[]", "{", {"risk": 1}]:
        with pytest.raises(ValueError):
            Button.from_value(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90m", timedelta(minutes=90)), ("1h30m", timedelta(minutes=90)), ("2小时", timedelta(hours=2)),
     ("1天", timedelta(days=1)), ("45 min", timedelta(minutes=45))],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "1x", "0m", "9999d", "1h abc", "-1h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_deadlines_in_group_time() -> None:
    assert parse_deadline("18:00", NOW, SH) == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert parse_deadline("明天", NOW, SH) == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert parse_deadline("11-30", NOW, SH) == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert parse_deadline("2026-12-01T09:30", NOW, SH) == datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
    assert parse_deadline("3h", NOW, SH) == NOW + timedelta(hours=3)
    for bad in ["08:00", "2025-01-01", "2030-01-01", "13-45", "25:00", "去年"]:
        with pytest.raises(ValueError):
            parse_deadline(bad, NOW, SH)
