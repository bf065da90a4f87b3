"""Signing (against the shared vectors), decoding and rendering: the pure parts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hubao.adapters.dingtalk import render
from hubao.adapters.dingtalk.decode import (
    PayloadError,
    decode_card_click,
    decode_message,
    decode_track_id,
    encode_track_id,
)
from hubao.adapters.dingtalk.signing import SignatureError, sign, sign_query, verify_callback
from hubao.bot.events import Button, Format, OutboundMessage, User

# The platforms' verified vectors, kept verbatim beside the tests (tests/vectors/test_vectors.py checks the copy).
VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "vectors.json"
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def _vector(vid: str) -> dict:
    data = json.loads(VECTORS.read_text(encoding="utf-8"))
    return next(v for v in data["vectors"] if v["id"] == vid)


def test_robot_callback_sign_matches_vector() -> None:
    v = _vector("dingtalk.robot_outgoing_http.sign")
    assert sign(v["inputs"]["app_secret"], v["inputs"]["timestamp"]) == v["expected"]["sign"]


def test_custom_robot_sign_query_matches_vector() -> None:
    v = _vector("dingtalk.custom_robot_webhook.sign")
    assert sign(v["inputs"]["secret"], v["inputs"]["timestamp"]) == v["expected"]["sign_base64"]
    assert sign_query(v["inputs"]["secret"], v["inputs"]["timestamp"]) == v["expected"]["sign_query_param"]


def test_verify_callback_accepts_vector_within_the_hour() -> None:
    v = _vector("dingtalk.robot_outgoing_http.sign")
    ts = v["inputs"]["timestamp"]
    sent = datetime.fromtimestamp(int(ts) / 1000, tz=UTC)
    for skew in (timedelta(minutes=59), -timedelta(minutes=59)):  # raises SignatureError if refused
        assert verify_callback(v["inputs"]["app_secret"], ts, v["expected"]["sign"], sent + skew) is None


@pytest.mark.parametrize(
    ("secret", "shift", "sig"),
    [
        ("this is secret", timedelta(minutes=61), None),  # stale
        ("this is secret", -timedelta(minutes=61), None),  # from the future
        ("another secret", timedelta(0), None),  # wrong key
        ("this is secret", timedelta(0), ""),  # missing sign
        ("this is secret", timedelta(0), "hmPWwU%2B7lVdm3ZZz0r9tSfx0L4Q26jWOZr9%2BGs6EZQM%3D"),  # url-encoded
    ],
)
def test_verify_callback_rejects(secret: str, shift: timedelta, sig: str | None) -> None:
    v = _vector("dingtalk.robot_outgoing_http.sign")
    ts = v["inputs"]["timestamp"]
    sent = datetime.fromtimestamp(int(ts) / 1000, tz=UTC)
    signature = v["expected"]["sign"] if sig is None else sig
    with pytest.raises(SignatureError):
        verify_callback(secret, ts, signature, sent + shift)


def test_verify_callback_rejects_malformed_timestamp() -> None:
    with pytest.raises(SignatureError):
        verify_callback("s", "12a", sign("s", "12a"), NOW)


DOC_SAMPLE = {
    "conversationId": "xxx", "atUsers": [{"dingtalkId": "xxx", "staffId": "xxx"}],
    "chatbotCorpId": "dinge8a565xxxx", "chatbotUserId": "$:LWCP_v1:$Cxxxxx", "msgId": "msg0xxxxx",
    "senderNick": "杨xx", "isAdmin": True, "senderStaffId": "user123",
    "sessionWebhookExpiredTime": 1613635652738, "createAt": 1613630252678, "senderCorpId": "dinge8a565xxxx",
    "conversationType": "2", "senderId": "$:LWCP_v1:$Ff09GIxxxxx", "conversationTitle": "机器人测试-TEST",
    "isInAtList": True, "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=xxxxx",
    "text": {"content": " 你好"}, "msgtype": "text",
}  # fmt: skip


def test_doc_sample_decodes() -> None:
    event = decode_message(DOC_SAMPLE, NOW)
    assert event is not None
    assert event.platform == "dingtalk"
    assert event.chat_id == "xxx"
    assert event.sender == User("dingtalk:user123", "杨xx")
    assert event.text == "你好"
    assert event.message_id == "msg0xxxxx"
    assert event.time == datetime.fromtimestamp(1613630252.678, tz=UTC)
    assert event.reply_handle["session_webhook"] == DOC_SAMPLE["sessionWebhook"]
    assert event.reply_handle["session_webhook_expires"] == "1613635652738"
    assert event.dedupe_key == "dingtalk:msg0xxxxx"


def test_sender_falls_back_to_sender_id() -> None:
    payload = {**DOC_SAMPLE, "senderStaffId": ""}
    event = decode_message(payload, NOW)
    assert event is not None and event.sender.id == "dingtalk:$:LWCP_v1:$Ff09GIxxxxx"


def test_mentions_pair_tokens_with_at_users_and_skip_the_robot() -> None:
    payload = {
        **DOC_SAMPLE,
        "atUsers": [
            {"dingtalkId": "$:LWCP_v1:$Cxxxxx"},  # the robot itself
            {"dingtalkId": "$:b", "staffId": "bob01"},
            {"dingtalkId": "$:c", "staffId": "carol02"},
        ],
        "text": {"content": " /risk 库存低 @Bob @Carol"},
    }
    event = decode_message(payload, NOW)
    assert event is not None
    assert event.text == "/risk 库存低 @Bob @Carol"
    assert [(m.user.id, m.token) for m in event.mentions] == [
        ("dingtalk:bob01", "@Bob"),
        ("dingtalk:carol02", "@Carol"),
    ]
    for m in event.mentions:
        assert m.token in event.text


def test_ambiguous_mentions_are_left_to_the_kernel() -> None:
    payload = {**DOC_SAMPLE, "atUsers": [{"dingtalkId": "$:b", "staffId": "bob01"}], "text": {"content": "a@b @x @y"}}
    event = decode_message(payload, NOW)
    assert event is not None and event.mentions == ()


def test_non_text_messages_are_not_events() -> None:
    assert decode_message({**DOC_SAMPLE, "msgtype": "picture", "content": {}}, NOW) is None


def test_rich_text_is_read() -> None:
    payload = {
        **DOC_SAMPLE,
        "msgtype": "richText",
        "content": {"richText": [{"text": " /list"}, {"pictureDownloadCode": "x"}]},
    }
    event = decode_message(payload, NOW)
    assert event is not None and event.text == "/list"


@pytest.mark.parametrize(
    "payload",
    [[], {"msgId": "m"}, {**DOC_SAMPLE, "msgId": 5}, {**DOC_SAMPLE, "text": "hi"},
     {**DOC_SAMPLE, "senderStaffId": None, "senderId": None}, {**DOC_SAMPLE, "atUsers": "x"}],
)  # fmt: skip
def test_malformed_messages_raise(payload: object) -> None:
    with pytest.raises(PayloadError):
        decode_message(payload, NOW)


def test_track_id_round_trip() -> None:
    chat = "cid5o+bbZdK/80y1V5ESE5Trw=="
    track = encode_track_id(chat, 42, "abcd1234")
    assert "/" not in track and "+" not in track and len(track) <= 64
    assert decode_track_id(track) == (chat, 42)
    with pytest.raises(PayloadError):
        decode_track_id("53d6dda444c74f5f17bf4534333c1a46f690b4ddadac8d7e80fc11c2e4a714cb")


def test_card_click_sdk_shape_decodes_to_the_button_command() -> None:
    track = encode_track_id("cidG", 7, "n1")
    payload = {
        "extension": "{}", "corpId": "ding9f50b15bccd16741", "spaceType": "", "userIdType": 1,
        "type": "actionCallback", "userId": "04574258341072934",
        "content": json.dumps({"cardPrivateData": {"actionIds": ["button_node_x"], "params": {"hubao": "resolve"}}}),
        "spaceId": "", "outTrackId": track,
    }  # fmt: skip
    event = decode_card_click(payload, NOW, "frame-1")
    assert event.button == Button("resolve", 7)
    assert event.text == "/resolve #7"
    assert event.chat_id == "cidG"
    assert event.sender.id == "dingtalk:04574258341072934"
    assert event.reply_handle == {"kind": "card", "out_track_id": track}
    # the action may also be the component id; value is accepted in place of content
    alt = {
        **payload,
        "content": None,
        "value": json.dumps({"cardPrivateData": {"actionIds": ["snooze"], "params": {}}}),
    }
    assert decode_card_click(alt, NOW).text == "/snooze #7 1h"


@pytest.mark.parametrize(
    "change",
    [{"outTrackId": "foreign"}, {"userId": ""}, {"content": "{not json"},
     {"content": json.dumps({"cardPrivateData": {"actionIds": ["delete"], "params": {"hubao": "delete"}}})},
     {"content": json.dumps({"cardPrivateData": {"actionIds": [], "params": {"hubao": "ack", "risk": "8"}}})}],
)  # fmt: skip
def test_bad_card_clicks_raise(change: dict) -> None:
    payload = {"userId": "u1", "outTrackId": encode_track_id("cidG", 7, "n1"),
               "content": json.dumps({"cardPrivateData": {"params": {"hubao": "ack"}}}), **change}  # fmt: skip
    with pytest.raises(PayloadError):
        decode_card_click(payload, NOW)


def _msg(**kw: object) -> OutboundMessage:
    return OutboundMessage(platform="dingtalk", chat_id="cidG", **kw)  # type: ignore[arg-type]


def test_mentions_render_as_user_ids_and_user_text_cannot_ping() -> None:
    bob = User("dingtalk:bob01", "Bob")
    msg = _msg(text="#3 库存低 @Bob 请处理 (by @mallory @所有人)", mentions=(bob, User("dingtalk:carol02", "Carol")))
    body = render.webhook_body(msg)
    text = body["text"]["content"]
    assert "@bob01 请处理" in text
    assert text.endswith("@carol02")
    assert "@mallory" not in text and "@所有人" not in text  # neutralised
    assert body["at"] == {"atUserIds": ["bob01", "carol02"], "isAtAll": False}


def test_mention_all_and_markdown() -> None:
    msg = _msg(text="**紧急** #5", format=Format.MARKDOWN, title="紧急", mention_all=True)
    body = render.webhook_body(msg)
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "紧急"
    assert body["markdown"]["text"].endswith("@所有人")
    assert body["at"]["isAtAll"] is True


def test_openapi_body_and_button_hints() -> None:
    msg = _msg(text="#9 风险", buttons=(Button("ack", 9), Button("resolve", 9)))
    body = render.openapi_body(msg, "robot", "cidG")
    assert body["msgKey"] == "sampleMarkdown"
    param = json.loads(body["msgParam"])
    assert "`/ack #9`" in param["text"] and "`/resolve #9`" in param["text"]
    params = render.card_params(msg)
    assert params["risk"] == "9" and params["show_ack"] == "true" and params["show_snooze"] == "false"
    assert all(isinstance(v, str) for v in params.values())
