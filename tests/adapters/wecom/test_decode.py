"""AI-bot JSON → InboundEvent (doc 100719 / 101027 payloads)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hubao.adapters.wecom.wire import Decoded, button_key, decode, parse_button_key, strip_bot_mention
from hubao.bot.events import Button, User

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
VECTORS = {v["id"]: v for v in json.loads(Path(__file__).with_name("vectors.json").read_text())["vectors"]}


def _decode(body: dict, bot_name: str = "RiskBot") -> Decoded:
    return decode(body, bot_name=bot_name, now=NOW, handle={"transport": "ws", "req_id": "r1"})


def test_vector_callback_becomes_one_event() -> None:
    body = json.loads(VECTORS["wecom.aibot.json_callback.self_generated"]["inputs"]["plaintext"])
    decoded = _decode(body)
    assert decoded.kind == "message"
    event = decoded.event
    assert event is not None
    assert event.platform == "wecom"
    assert event.chat_id == "CHATID"
    assert event.sender == User("wecom:zhangsan")
    assert event.text == "/ack 42"
    assert event.message_id == "CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI="
    assert event.dedupe_key == "wecom:CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI="
    assert event.time == NOW
    assert event.button is None
    assert dict(event.reply_handle) == {
        "transport": "ws",
        "req_id": "r1",
        "chat_id": "CHATID",
        "chattype": "group",
        "userid": "zhangsan",
    }


def _msg(text: str, chattype: str = "group") -> dict:
    body = {
        "msgid": "m1",
        "chattype": chattype,
        "from": {"userid": "lisi"},
        "msgtype": "text",
        "text": {"content": text},
    }
    if chattype == "group":
        body["chatid"] = "wrG"
    return body


@pytest.mark.parametrize(
    ("text", "bot_name", "expected"),
    [
        ("@RiskBot /risk 库存低 @张三", "RiskBot", "/risk 库存低 @张三"),
        ("@RiskBot\u2005/help", "RiskBot", "/help"),
        ("/risk 库存低 @RiskBot", "RiskBot", "/risk 库存低"),
        ("＠RiskBot /help", "RiskBot", "/help"),
        ("@RiskBotX /help", "RiskBot", "/help"),  # not the bot's name: leading @word still dropped in groups
        ("@小助手 /help", "", "/help"),
        ("@互保 助手 /help", "互保 助手", "/help"),
    ],
)
def test_the_bots_own_mention_is_stripped(text: str, bot_name: str, expected: str) -> None:
    event = _decode(_msg(text), bot_name=bot_name).event
    assert event is not None and event.text == expected


def test_single_chat_text_is_kept_whole() -> None:
    assert strip_bot_mention("@张三 /risk x", "RiskBot", group=False) == "@张三 /risk x"
    event = _decode(_msg("/help", chattype="single")).event
    assert event is not None and event.chat_id == "lisi"


def test_other_mentions_stay_as_names_without_ids() -> None:
    event = _decode(_msg("@RiskBot /risk 库存低 @张三 @李四")).event
    assert event is not None
    assert event.mentions == ()  # WeCom sends no ids: the kernel resolves @names in the group
    assert "@张三" in event.text and "@李四" in event.text
    assert not event.mentions_all


@pytest.mark.parametrize("word", ["@所有人", "@all", "@ALL"])
def test_at_all_sets_mentions_all(word: str) -> None:
    event = _decode(_msg(f"@RiskBot /urgent 停电 {word}")).event
    assert event is not None and event.mentions_all


def test_mixed_and_voice_messages_carry_text() -> None:
    mixed = {
        "msgid": "m2",
        "chatid": "g",
        "chattype": "group",
        "from": {"userid": "u"},
        "msgtype": "mixed",
        "mixed": {
            "msg_item": [
                {"msgtype": "text", "text": {"content": "@RiskBot /risk 漏水"}},
                {"msgtype": "image", "image": {"url": "https://x"}},
            ]
        },
    }
    event = _decode(mixed).event
    assert event is not None and event.text == "/risk 漏水"
    voice = {
        "msgid": "m3",
        "chattype": "single",
        "from": {"userid": "u"},
        "msgtype": "voice",
        "voice": {"content": "/help"},
    }
    event = _decode(voice).event
    assert event is not None and event.text == "/help"


@pytest.mark.parametrize("msgtype", ["image", "file", "stream"])
def test_other_message_types_are_ignored(msgtype: str) -> None:
    decoded = _decode({"msgid": "m", "chattype": "single", "from": {"userid": "u"}, "msgtype": msgtype})
    assert decoded.kind == "ignored" and decoded.event is None


def test_card_click_is_the_command_it_stands_for() -> None:
    body = {
        "msgid": "c1",
        "chatid": "wrG",
        "chattype": "group",
        "from": {"userid": "wangwu"},
        "msgtype": "event",
        "event": {
            "eventtype": "template_card_event",
            "template_card_event": {
                "card_type": "button_interaction",
                "event_key": "hubao_resolve_7",
                "task_id": "hubao-7-abc",
            },
        },
    }
    decoded = _decode(body)
    assert decoded.kind == "card_click"
    event = decoded.event
    assert event is not None
    assert event.button == Button("resolve", 7)
    assert event.text == "/resolve #7"
    assert event.message_id == "c1"
    assert event.reply_handle["task_id"] == "hubao-7-abc"
    assert event.sender == User("wecom:wangwu")


def test_foreign_card_buttons_and_other_events_are_ignored() -> None:
    click = {
        "msgid": "c2",
        "chatid": "g",
        "chattype": "group",
        "from": {"userid": "u"},
        "msgtype": "event",
        "event": {"eventtype": "template_card_event", "template_card_event": {"event_key": "approve"}},
    }
    assert _decode(click).kind == "ignored"
    enter = {
        "msgid": "e",
        "chattype": "single",
        "from": {"userid": "u"},
        "msgtype": "event",
        "event": {"eventtype": "enter_chat"},
    }
    assert _decode(enter).kind == "ignored"
    kicked = {"msgid": "k", "msgtype": "event", "event": {"eventtype": "disconnected_event"}}
    assert _decode(kicked).kind == "kicked"


@pytest.mark.parametrize("body", [[], "x", {"msgtype": "text", "text": {"content": "/help"}}])
def test_malformed_bodies_raise(body: object) -> None:
    with pytest.raises(ValueError):
        decode(body, bot_name="", now=NOW, handle={})


@pytest.mark.parametrize("action", ["ack", "resolve", "snooze"])
def test_button_keys_round_trip(action: str) -> None:
    button = Button(action, 123456789)
    key = button_key(button)
    assert key is not None and key.replace("_", "").isalnum()  # the charset WeCom allows in task ids and keys
    assert parse_button_key(key) == button
    assert parse_button_key(json.dumps(button.to_value())) == button


def test_a_log_it_button_key_carries_its_risk_line_within_the_key_limit() -> None:
    button = Button("risk", 0, text="/risk 提醒 更新证书 @Bob due:周五前")
    key = button_key(button)
    assert key is not None and len(key.encode()) <= 1024
    assert parse_button_key(key) == button
    assert button_key(Button("risk", 0, text="/risk " + "证" * 400)) is None  # 1.2 KB: no button, the text has it


@pytest.mark.parametrize("key", ["hubao_delete_1", "hubao_ack_0", "hubao_ack_x", "", "{}"])
def test_bad_button_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError):
        parse_button_key(key)
