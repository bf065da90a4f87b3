"""Every platform's decoder marks a message that talks to the bot as addressed, so the kernel
answers it (tests/handlers/test_addressed.py, tests/adapters/feishu/test_addressed.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from hubao.adapters.console import ConsoleAdapter, Said
from hubao.adapters.dingtalk.decode import decode_message as dingtalk_decode
from hubao.adapters.wecom.wire import decode as wecom_decode

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def test_wecom_ai_bot_messages_are_addressed_with_the_bot_mention_taken_out() -> None:
    for chattype, text in (("group", "@互保助手 提醒 周五交合同"), ("single", "提醒 周五交合同")):
        body = {"msgid": f"m-{chattype}", "chattype": chattype, "chatid": "wrkchat", "from": {"userid": "zhangsan"},
                "msgtype": "text", "text": {"content": text}}  # fmt: skip
        decoded = wecom_decode(body, bot_name="互保助手", now=NOW, handle={})
        assert decoded.event is not None and decoded.event.addressed
        assert decoded.event.text == "提醒 周五交合同"


def test_dingtalk_robot_messages_are_addressed() -> None:
    for conversation_type in ("1", "2"):  # direct chat, group (where the robot only gets @-mentions)
        payload = {"msgId": f"m{conversation_type}", "conversationId": "cid", "senderStaffId": "s1",
                   "conversationType": conversation_type, "msgtype": "text",
                   "text": {"content": " 提醒 周五交合同"}, "chatbotUserId": "bot"}  # fmt: skip
        event = dingtalk_decode(payload, NOW)
        assert event is not None and event.addressed and event.text == "提醒 周五交合同"


def test_console_addresses_the_bot_with_an_at_bot() -> None:
    adapter = ConsoleAdapter(lambda _text: None)
    spoken = adapter.event(Said("alice", "@bot 提醒 @bob 交合同"), NOW)
    assert spoken.addressed and spoken.text == "提醒 @bob 交合同"
    assert [m.user.name for m in spoken.mentions] == ["bob"]
    near = adapter.event(Said("alice", "提醒 @bob 交合同"), NOW)
    assert not near.addressed and near.text == "提醒 @bob 交合同"
