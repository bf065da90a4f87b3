"""Every platform decoder, fed mutated real payloads: it returns an event, None, or its own error.

Seeds are real payload shapes (the platforms' documented samples); hypothesis replaces any
subtree with arbitrary JSON, so the decoders' deep paths are reached, past the signature checks
that guard them on the wire.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hubao.adapters.dingtalk import decode as dingtalk
from hubao.adapters.feishu import decode as feishu
from hubao.adapters.wecom import wire as wecom
from hubao.bot.events import Button, InboundEvent

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def mutated_object(value: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Like :func:`mutated`, but the top level stays an object (the adapter refuses anything else)."""
    return st.fixed_dictionaries({k: mutated(v) for k, v in value.items()})


def mutated(value: Any) -> st.SearchStrategy[Any]:
    """``value`` with a few of its parts (or itself) replaced by arbitrary JSON.

    Each node is kept seven times in eight, so most examples differ from the seed in one or
    two places and the decoder gets deep before it meets the odd value.
    """
    if isinstance(value, dict):
        kept: st.SearchStrategy[Any] = st.fixed_dictionaries({k: mutated(v) for k, v in value.items()})
    elif isinstance(value, list):
        kept = st.tuples(*(mutated(v) for v in value)).map(list) if value else st.just([])
    else:
        kept = st.just(value)
    return st.integers(0, 7).flatmap(lambda pick: JSON if pick == 0 else kept)


FEISHU_MESSAGE = {
    "schema": "2.0",
    "header": {"event_id": "5e3702a84e847582be8db7fb73283c02", "event_type": "im.message.receive_v1",
               "create_time": "1608725989000", "token": "tok", "app_id": "cli_x", "tenant_key": "t"},
    "event": {
        "sender": {"sender_id": {"open_id": "ou_alice", "user_id": "u1"}, "sender_type": "user"},
        "message": {
            "message_id": "om_1", "chat_id": "oc_1", "chat_type": "group", "message_type": "text",
            "create_time": "1609073151345",
            "content": json.dumps({"text": "@_user_1 /risk 库存低 @_user_2"}),
            "mentions": [
                {"key": "@_user_1", "id": {"open_id": "ou_bot"}, "name": "bot"},
                {"key": "@_user_2", "id": {"open_id": "ou_bob"}, "name": "Bob"},
            ],
        },
    },
}  # fmt: skip
FEISHU_CLICK = {
    "schema": "2.0",
    "header": {"event_id": "e2", "event_type": "card.action.trigger", "create_time": "1608725989000"},
    "event": {
        "operator": {"open_id": "ou_bob"},
        "token": "c-token",
        "action": {"value": {"hubao": "ack", "risk": 3}, "tag": "button"},
        "context": {"open_message_id": "om_1", "open_chat_id": "oc_1"},
    },
}
DINGTALK_MESSAGE = {
    "conversationId": "cid1==", "atUsers": [{"dingtalkId": "$:bot"}, {"dingtalkId": "$:b", "staffId": "bob01"}],
    "chatbotUserId": "$:bot", "msgId": "msg1", "senderNick": "Alice", "isAdmin": False, "senderStaffId": "alice01",
    "sessionWebhookExpiredTime": 1700000000000, "createAt": 1699994600000, "conversationType": "2",
    "senderId": "$:alice", "isInAtList": True, "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?x=1",
    "text": {"content": "@互保助手 /ack #3 @Bob"}, "msgtype": "text", "robotCode": "ding1",
}  # fmt: skip
DINGTALK_CLICK = {
    "outTrackId": dingtalk.encode_track_id("cid1==", 3, "n1"),
    "userId": "bob01",
    "content": json.dumps({"cardPrivateData": {"actionIds": ["ack"], "params": {"hubao": "ack", "risk": 3}}}),
}
WECOM_MESSAGE = {
    "msgid": "CAIQ16HMjQYY", "aibotid": "AIBOTID", "chatid": "CHATID", "chattype": "group",
    "from": {"userid": "zhangsan"}, "response_url": "https://qyapi.weixin.qq.com/resp", "msgtype": "text",
    "text": {"content": "@互保助手 /risk 库存低 @lisi"},
}  # fmt: skip
WECOM_CLICK = {
    "msgid": "CAIQ2", "create_time": 1700000000, "aibotid": "AIBOTID", "chatid": "CHATID", "chattype": "group",
    "from": {"userid": "lisi"}, "msgtype": "event", "response_url": "https://qyapi.weixin.qq.com/resp",
    "event": {"eventtype": "template_card_event",
              "template_card_event": {"card_type": "button_interaction", "event_key": "hubao_ack_3", "task_id": "t1"}},
}  # fmt: skip


def _ok(result: Any) -> None:
    assert result is None or isinstance(result, InboundEvent) or hasattr(result, "event")


@settings(max_examples=300, deadline=None)
@given(mutated_object(FEISHU_MESSAGE))
def test_feishu_message_decoder(payload: Any) -> None:
    with contextlib.suppress(feishu.DecodeError):
        _ok(feishu.decode_message(payload, feishu.BotIdentity(open_id="ou_bot"), NOW))


@settings(max_examples=300, deadline=None)
@given(mutated_object(FEISHU_CLICK))
def test_feishu_card_decoder(payload: Any) -> None:
    with contextlib.suppress(feishu.DecodeError):
        _ok(feishu.decode_card_action(payload, NOW))


@settings(max_examples=300, deadline=None)
@given(mutated(DINGTALK_MESSAGE))
def test_dingtalk_message_decoder(payload: Any) -> None:
    with contextlib.suppress(dingtalk.PayloadError):
        _ok(dingtalk.decode_message(payload, NOW))


@settings(max_examples=300, deadline=None)
@given(mutated(DINGTALK_CLICK), st.text(max_size=20))
def test_dingtalk_card_decoder(payload: Any, delivery_id: str) -> None:
    with contextlib.suppress(dingtalk.PayloadError):
        _ok(dingtalk.decode_card_click(payload, NOW, delivery_id))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_dingtalk_track_ids(track_id: str) -> None:
    try:
        chat, risk = dingtalk.decode_track_id(track_id)
    except dingtalk.PayloadError:
        return
    assert isinstance(chat, str) and isinstance(risk, int)


@settings(max_examples=300, deadline=None)
@given(mutated(WECOM_MESSAGE) | mutated(WECOM_CLICK))
def test_wecom_decoder(payload: Any) -> None:
    with contextlib.suppress(wecom.PayloadError):
        _ok(wecom.decode(payload, bot_name="互保助手", now=NOW, handle={"req_id": "r1"}))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_wecom_button_keys(key: str) -> None:
    try:
        button = wecom.parse_button_key(key)
    except ValueError:  # its documented error (PayloadError is one too)
        return
    assert isinstance(button, Button)


@settings(max_examples=300, deadline=None)
@given(JSON | st.text(max_size=60))
def test_button_values(value: Any) -> None:
    try:
        button = Button.from_value(value)
    except ValueError:
        return
    assert Button.from_value(button.to_value()) == button
