"""Payload → InboundEvent: placeholders, the bot's own mention, post messages, card clicks."""

from __future__ import annotations

import json

import pytest

from hubao.adapters.feishu.decode import BotIdentity, DecodeError, decode_card_action, decode_message
from hubao.bot.clock import ManualClock
from hubao.bot.events import Button, Mention, User

from .standin import BOT_NAME, BOT_OPEN_ID, card_event, message_event

BOT = BotIdentity(BOT_OPEN_ID)
NOW = ManualClock().now()
ALICE, BOB, CAROL = "ou_alice", "ou_bob", "ou_carol"


def test_doc_sample_shape() -> None:
    payload = message_event("oc_1", ALICE, "@_user_1 /ack 123", {"@_user_1": (BOT_OPEN_ID, BOT_NAME)})
    event = decode_message(payload, BOT, NOW)
    assert event is not None
    assert event.platform == "feishu"
    assert event.chat_id == "oc_1"
    assert event.sender == User("feishu:ou_alice")
    assert event.text == "/ack 123"
    assert event.mentions == ()
    assert event.message_id == payload["header"]["event_id"]
    assert event.reply_handle["message_id"] == payload["event"]["message"]["message_id"]
    assert event.time.timestamp() == 1_700_000_000


def test_mentions_keep_placeholders_as_tokens() -> None:
    mentions = {"@_user_1": (BOT_OPEN_ID, BOT_NAME), "@_user_2": (BOB, "Bob"), "@_user_3": (CAROL, "Carol")}
    payload = message_event("oc_1", ALICE, "@_user_1 /risk 库存低 @_user_2 @_user_3", mentions)
    event = decode_message(payload, BOT, NOW)
    assert event is not None
    assert event.text == "/risk 库存低 @_user_2 @_user_3"
    assert event.mentions == (
        Mention(User("feishu:ou_bob", "Bob"), "@_user_2"),
        Mention(User("feishu:ou_carol", "Carol"), "@_user_3"),
    )
    for mention in event.mentions:
        assert mention.token in event.text


def test_placeholder_ten_is_not_placeholder_one() -> None:
    mentions = {f"@_user_{i}": (f"ou_{i}", f"U{i}") for i in range(1, 11)}
    payload = message_event("oc_1", ALICE, "/risk x @_user_10", mentions)
    event = decode_message(payload, BOT, NOW)
    assert event is not None
    assert [m.user.id for m in event.mentions] == ["feishu:ou_10"]


def test_glued_placeholders_become_words() -> None:
    payload = message_event("oc_1", ALICE, "/risk 库存低，交给@_user_2处理", {"@_user_2": (BOB, "Bob")})
    event = decode_message(payload, BOT, NOW)
    assert event is not None
    assert "@_user_2" in event.text.split()


def test_bot_found_by_name_when_open_id_unknown() -> None:
    payload = message_event("oc_1", ALICE, "@_user_1 /help", {"@_user_1": ("ou_whoever", BOT_NAME)})
    event = decode_message(payload, BotIdentity(name=BOT_NAME), NOW)
    assert event is not None and event.text == "/help" and event.mentions == ()


def test_other_bot_with_our_name_is_not_us_when_open_id_known() -> None:
    payload = message_event("oc_1", ALICE, "@_user_1 /help", {"@_user_1": ("ou_other", BOT_NAME)})
    event = decode_message(payload, BOT, NOW)
    assert event is not None and event.text == "@_user_1 /help"


def test_at_all() -> None:
    payload = message_event("oc_1", ALICE, "@_user_1 /urgent 停电 @_all", {"@_user_1": (BOT_OPEN_ID, BOT_NAME)})
    event = decode_message(payload, BOT, NOW)
    assert event is not None and event.mentions_all and event.text == "/urgent 停电 @_all"


def test_post_message() -> None:
    payload = message_event("oc_1", ALICE, "", {"@_user_1": (BOT_OPEN_ID, BOT_NAME), "@_user_2": (BOB, "Bob")})
    message = payload["event"]["message"]
    message["message_type"] = "post"
    message["content"] = json.dumps(
        {
            "title": "",
            "content": [
                [{"tag": "at", "user_id": "@_user_1", "user_name": BOT_NAME}, {"tag": "text", "text": " /risk 停机"}],
                [{"tag": "at", "user_id": "@_user_2", "user_name": "Bob"}],
            ],
        }
    )
    event = decode_message(payload, BOT, NOW)
    assert event is not None
    assert event.text.split() == ["/risk", "停机", "@_user_2"]
    assert event.mentions == (Mention(User("feishu:ou_bob", "Bob"), "@_user_2"),)


def test_images_and_app_senders_are_ignored() -> None:
    payload = message_event("oc_1", ALICE, "x")
    payload["event"]["message"]["message_type"] = "image"
    payload["event"]["message"]["content"] = json.dumps({"image_key": "img_1"})
    assert decode_message(payload, BOT, NOW) is None
    payload = message_event("oc_1", ALICE, "x")
    payload["event"]["sender"]["sender_type"] = "app"
    assert decode_message(payload, BOT, NOW) is None


@pytest.mark.parametrize("breakage", ["no-event", "no-chat", "bad-content", "no-sender"])
def test_malformed_message(breakage: str) -> None:
    payload = message_event("oc_1", ALICE, "/help")
    if breakage == "no-event":
        del payload["event"]
    elif breakage == "no-chat":
        del payload["event"]["message"]["chat_id"]
    elif breakage == "bad-content":
        payload["event"]["message"]["content"] = "{not json"
    else:
        payload["event"]["sender"]["sender_id"] = {}
    with pytest.raises(DecodeError):
        decode_message(payload, BOT, NOW)


def test_card_click() -> None:
    payload = card_event("oc_1", BOB, Button("resolve", 7).to_value(), message_id="om_card_7")
    event = decode_card_action(payload, NOW)
    assert event is not None
    assert event.button == Button("resolve", 7)
    assert event.text == "/resolve #7"
    assert event.sender == User("feishu:ou_bob")
    assert event.chat_id == "oc_1"
    assert event.message_id == payload["header"]["event_id"]
    assert event.reply_handle["message_id"] == "om_card_7"
    assert event.reply_handle["card_token"] == payload["event"]["token"]


def test_foreign_button_is_ignored() -> None:
    assert decode_card_action(card_event("oc_1", BOB, {"key": "other-app"}), NOW) is None
    assert decode_card_action(card_event("oc_1", BOB, {"hubao": "drop-table", "risk": 1}), NOW) is None
