"""On Feishu, a reminder @-sent to the bot is answered with the risk it would log and a button that
logs it in one tap; a direct chat counts as addressed; group chatter without the bot's @ does not."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hubao.adapters.feishu.adapter import FeishuAdapter
from hubao.adapters.feishu.decode import BotIdentity, decode_message
from hubao.app import App
from hubao.bot.clock import ManualClock
from hubao.bot.events import User

from .conftest import settings_for
from .standin import BOT_NAME, BOT_OPEN_ID, FeishuStandIn, card_event, message_event

CHAT = "oc_group_1"
MENTIONS = {"@_user_1": (BOT_OPEN_ID, BOT_NAME), "@_user_2": ("ou_bob", "Bob")}
BOT = BotIdentity(open_id=BOT_OPEN_ID)
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def test_the_bot_mention_or_a_direct_chat_marks_a_message_as_addressed() -> None:
    mentioned = decode_message(message_event(CHAT, "ou_alice", "@_user_1 提醒一下", MENTIONS), BOT, NOW)
    assert mentioned is not None and mentioned.addressed and mentioned.text == "提醒一下"
    chatter = decode_message(message_event(CHAT, "ou_alice", "@_user_2 提醒一下", MENTIONS), BOT, NOW)
    assert chatter is not None and not chatter.addressed
    direct = message_event("oc_p2p", "ou_alice", "提醒一下")
    direct["event"]["message"]["chat_type"] = "p2p"
    event = decode_message(direct, BOT, NOW)
    assert event is not None and event.addressed


async def _bot(make_app: Any, standin: FeishuStandIn) -> tuple[App, FeishuAdapter]:
    values = settings_for(standin, transport="long_connection").model_dump()
    app: App = await make_app(**{f"feishu.{key}": value for key, value in values.items()})
    await app.register_group("feishu", CHAT, "互保一组", leader=User("feishu:ou_lead", "Lead"))
    adapter = app.adapters["feishu"]
    assert isinstance(adapter, FeishuAdapter)
    await adapter.start()
    return app, adapter


async def test_a_reminder_to_the_bot_gets_a_card_whose_button_logs_the_risk(
    make_app: Any, standin: FeishuStandIn, clock: ManualClock
) -> None:
    app, _adapter = await _bot(make_app, standin)
    _, _, code = await standin.push(message_event(CHAT, "ou_alice", "@_user_1 提醒 @_user_2 周五前更新证书", MENTIONS))
    assert code == 200
    await app.idle()
    await app.deliver()
    (card,) = standin.sent_to(CHAT)
    line = "/risk 提醒 更新证书 @Bob due:周五前"
    assert card.msg_type == "interactive" and line in card.text and "负责人：Bob" in card.text
    assert card.buttons == [{"hubao": "risk", "text": line}]

    _, answer, _ = await standin.push(card_event(CHAT, "ou_alice", card.buttons[0], message_id=card.message_id))
    await app.idle()
    await app.deliver()
    logged = json.dumps(answer, ensure_ascii=False) + "".join(s.text for s in standin.sent_to(CHAT)[1:])
    assert "#1【中】提醒 更新证书" in logged and "负责人：Bob" in logged and "11-27 18:00 前解决" in logged


async def test_group_chatter_without_the_bot_mention_is_not_answered(
    make_app: Any, standin: FeishuStandIn
) -> None:
    app, _adapter = await _bot(make_app, standin)
    await standin.push(message_event(CHAT, "ou_alice", "@_user_2 提醒 周五前更新证书", MENTIONS))
    await standin.push(message_event(CHAT, "ou_alice", "@_user_1 在吗", MENTIONS))
    await app.idle()
    await app.deliver()
    (help_text,) = standin.sent_to(CHAT)  # only the message to the bot is answered: the short help
    assert "常用命令：/help" in help_text.text
