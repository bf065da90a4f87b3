"""A help that fits a phone: everyday commands first, the rest one word away."""

from __future__ import annotations

from typing import Any

import pytest

from hubao.bot.i18n import Catalog
from hubao.console import ConsoleSession
from hubao.handlers.help import is_admin_command

PHONE_LINES = 12


def _lines(block: str) -> list[str]:
    assert block.startswith("bot: ")
    return [line.strip() for line in block[len("bot: ") :].split("\n")]


@pytest.mark.parametrize("locale", ["zh", "en"])
async def test_help_fits_a_phone_and_starts_with_the_reminder_commands(make_console: Any, locale: str) -> None:
    console = await make_console(**{"bot.locale": locale})
    (block,) = await console.say("alice", "/help")
    lines = _lines(block)
    assert len(lines) <= PHONE_LINES
    commands = [line.split()[0] for line in lines[1:-1]]
    assert commands[:4] == ["/risk", "/urgent", "/ack", "/resolve"]
    assert "/snooze" in commands and "/list" in commands
    assert not any(word.startswith("/admin") or word.startswith("/meeting") for word in commands)
    assert "/help all" in lines[-1] and "/help admin" in lines[-1]


async def test_help_in_a_chat_that_is_not_registered_is_the_same_short_help(console: ConsoleSession) -> None:
    assert await console.say("alice", "/help", chat="nowhere") == await console.say("alice", "/help")


async def test_help_all_lists_every_command_and_help_admin_the_admin_ones(console: ConsoleSession) -> None:
    (everything,) = await console.say("alice", "/help all")
    assert everything == (await console.say("alice", "/帮助 全部"))[0]
    for spec in console.app.router:
        assert spec.usage in everything
    (admin,) = await console.say("alice", "/help admin")
    admin_lines = _lines(admin)[1:]
    admin_specs = [spec for spec in console.app.router if is_admin_command(spec)]
    assert len(admin_lines) == len(admin_specs)
    for spec, line in zip(admin_specs, admin_lines, strict=True):
        assert line.startswith(spec.usage + " — ")
    assert "/risk" not in admin


async def test_help_for_one_command_gives_usage_an_example_and_who_may(console: ConsoleSession) -> None:
    (detail,) = await console.say("alice", "/help risk")
    assert _lines(detail) == [
        "/risk <text> [@owner] [!高/!中/!低] [#tag] [due:<time>]",
        "登记风险提醒（默认负责人为被@的人）",
        "例如：/risk 合同还没盖章 @张三 !高 due:周五",
        "别名：/风险 /提醒",
        "权限：小组成员、管理员",
    ]
    (setup,) = await console.say("alice", "/help admin setup")
    assert "例如：/admin setup 华东互保组 @张三" in setup and "权限：管理员" in setup
    (unknown,) = await console.say("alice", "/help frobnicate")
    assert _lines(unknown)[0] == "没有命令 frobnicate。" and "/help all" in unknown


async def test_every_command_help_has_an_example_that_the_bot_accepts(console: ConsoleSession) -> None:
    for name in ("张三", "李四", "王五"):
        await console.say(name, "在")
    for text in ("库存低", "合同", "发票"):
        await console.say("root", f"/risk {text}")
    for spec in console.app.router:
        (detail,) = await console.say("root", f"/help /{spec.name}")  # "/help admin" is the admin list
        example_line = next(line for line in _lines(detail) if line.startswith("例如："))
        example = example_line.removeprefix("例如：")
        assert example.split()[0] == "/" + spec.name.split()[0], spec.name
        if not Catalog("zh").has(f"example.{spec.name}"):
            # A command declared without a catalogue example shows its usage without the optional parts.
            assert example == " ".join(w for w in spec.usage.split() if not w.startswith("[")), spec.name
            continue
        replies = await console.say("root", example)
        assert replies, example
        assert not replies[0].startswith(("bot: 参数不对", "bot: 未知命令")), (example, replies[0])
