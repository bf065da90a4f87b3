"""No silence to someone who talks to the bot; chatter near it stays unanswered.

The console's clock is Monday 2026-11-23 09:00 in Shanghai; "@bot" addresses the bot there as an
@-mention does on the platforms.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from hubao.console import ConsoleSession
from hubao.storage.models import Risk


async def _risks(console: ConsoleSession) -> list[Risk]:
    async with console.app.db.transaction() as s:
        return list((await s.exec(select(Risk))).all())


async def test_a_reminder_to_the_bot_is_answered_with_the_risk_it_would_log(console: ConsoleSession) -> None:
    await console.say("bob", "在")
    (block,) = await console.say("alice", "@bot 提醒 @bob 周五前把合同盖章")
    assert block.split("\n") == [
        "bot: 要登记成风险提醒吗？负责人：bob · 截止：11-27 周五 18:00",
        "  发送这一行即可登记：",
        "  /risk 提醒 把合同盖章 @bob due:周五前",
        "  [登记 /risk 提醒 把合同盖章 @bob due:周五前]",
    ]
    assert await _risks(console) == []  # nothing is logged until someone sends the line


async def test_sending_the_suggested_line_logs_exactly_that_risk(console: ConsoleSession) -> None:
    await console.say("bob", "在")
    (block,) = await console.say("alice", "@bot 别忘了 @bob 12月5日15:00 交发票")
    line = block.split("\n")[2].strip()
    assert line == "/risk 别忘了 交发票 @bob due:12月5日15:00"
    (logged,) = await console.say("alice", line)
    assert "#1【中】别忘了 交发票" in logged and "负责人：bob" in logged and "12-05 15:00 前解决" in logged
    (risk,) = await _risks(console)
    assert risk.owner_id == "console:bob"


async def test_a_reminder_word_without_a_colleague_makes_the_speaker_the_owner(console: ConsoleSession) -> None:
    (block,) = await console.say("alice", "@bot 注意 仓库温度偏高")
    assert "负责人：alice · 截止：未写（按级别时限）" in block
    assert "/risk 注意 仓库温度偏高\n" in block + "\n"


async def test_anything_else_said_to_the_bot_gets_a_three_line_help(console: ConsoleSession) -> None:
    (block,) = await console.say("alice", "@bot 你好")
    assert block.split("\n") == [
        "bot: 我是互保助手，帮小组登记风险、按时提醒负责人。",
        "  登记：/risk 内容 @负责人 due:周五",
        "  常用命令：/help",
    ]
    assert await console.say("alice", "@bot") == [block]


async def test_chatter_that_does_not_address_the_bot_stays_unanswered(console: ConsoleSession) -> None:
    assert await console.say("alice", "大家好") == []
    assert await console.say("alice", "提醒 @bob 周五前把合同盖章") == []  # to bob, not to the bot
    assert await console.say("alice", "@all 注意安全") == []


async def test_a_command_after_the_bot_mention_is_still_a_command(console: ConsoleSession) -> None:
    (block,) = await console.say("alice", "@bot /risk 库存低")
    assert block.startswith("bot: @alice 已登记风险提醒。")


async def test_an_unregistered_chat_that_addresses_the_bot_gets_the_setup_hint(console: ConsoleSession) -> None:
    hint = "bot: 本群还没有登记为互保小组。请管理员发送 /admin setup <小组名称> 完成登记。"
    assert await console.say("alice", "@bot 提醒 @bob 交合同", chat="nowhere") == [hint]
    assert await console.say("alice", "/risk 交合同", chat="nowhere") == [hint]  # as commands there get
    assert await console.say("alice", "随便聊聊", chat="nowhere") == []


async def test_in_english_the_suggestion_and_help_are_english(make_console: Any) -> None:
    console = await make_console(**{"bot.locale": "en"})
    await console.say("bob", "hi")
    (block,) = await console.say("alice", "@bot don't forget @bob the invoice by fri")
    assert block.split("\n")[:3] == [
        "bot: Log this as a risk? Owner: bob · due: 11-27 Fri 18:00",
        "  Send this line to log it:",
        "  /risk don't forget the invoice @bob due:by fri",
    ]
    (help_block,) = await console.say("alice", "@bot hello there")
    assert help_block.split("\n")[-1] == "  Everyday commands: /help"
