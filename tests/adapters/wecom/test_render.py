"""Rendering: size limits, mentions that ping, defused user text, cards."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hubao.adapters.wecom import render as r
from hubao.adapters.wecom.wire import parse_button_key
from hubao.bot.events import Button, Format, OutboundMessage, User

ZHANG = User("wecom:zhangsan", "张三")


def _msg(**kw: object) -> OutboundMessage:
    return OutboundMessage(**{"platform": "wecom", "chat_id": "wrGroup1", "text": "风险 #1 库存低", **kw})


@given(
    st.text(alphabet=st.sampled_from(["a", "中", "\n", "😀", " "]), max_size=3000),
    st.integers(min_value=8, max_value=2048),
)
def test_split_keeps_every_piece_within_the_byte_limit(text: str, limit: int) -> None:
    pieces = r.split_utf8(text, limit)
    assert all(len(p.encode()) <= limit for p in pieces)
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")


def test_text_with_mentions_is_one_robot_text_with_mentioned_list() -> None:
    bodies = r.robot_bodies(_msg(mentions=(ZHANG, User("dingtalk:x")), mention_all=True))
    assert bodies == [
        {"msgtype": "text", "text": {"content": "风险 #1 库存低", "mentioned_list": ["zhangsan", "@all"]}}
    ]


def test_markdown_cannot_mention_so_the_ping_is_a_separate_text() -> None:
    bodies = r.robot_bodies(_msg(format=Format.MARKDOWN, title="周报", mentions=(ZHANG,)))
    assert bodies[0] == {"msgtype": "markdown", "markdown": {"content": "**周报**\n风险 #1 库存低"}}
    assert bodies[1] == {"msgtype": "text", "text": {"content": "周报", "mentioned_list": ["zhangsan"]}}


def test_user_text_cannot_ping() -> None:
    bodies = r.robot_bodies(_msg(text="hi <@lisi> and @all"))
    assert bodies == [{"msgtype": "text", "text": {"content": "hi <\u200b@lisi> and @all"}}]
    evil = User("wecom:@all")
    assert r.mention_list(_msg(mentions=(evil,))) == []


def test_long_text_is_split_to_2048_bytes_and_the_ping_rides_the_last_piece() -> None:
    bodies = r.robot_bodies(_msg(text="险" * 1500, mentions=(ZHANG,)))
    assert len(bodies) == 3
    assert all(len(b["text"]["content"].encode()) <= 2048 for b in bodies)
    assert [("mentioned_list" in b["text"]) for b in bodies] == [False, False, True]


def test_buttons_become_commands_for_the_group_robot() -> None:
    bodies = r.robot_bodies(_msg(buttons=(Button("ack", 1), Button("snooze", 1))))
    assert bodies[0]["text"]["content"].endswith("`/ack #1` · `/snooze #1 1h`")


def test_template_card_carries_typed_button_keys() -> None:
    card, overflow = r.template_card(
        _msg(text="风险 #3 漏水\n负责人 张三", buttons=(Button("ack", 3, "收到"), Button("resolve", 3))), "t-1"
    )
    assert overflow is None
    assert card["card_type"] == "button_interaction"
    assert card["task_id"] == "t-1"
    assert card["main_title"] == {"title": "风险 #3 漏水"}
    assert card["sub_title_text"] == "负责人 张三"
    assert [b["text"] for b in card["button_list"]] == ["收到", "已解决"]
    assert [parse_button_key(b["key"]) for b in card["button_list"]] == [Button("ack", 3), Button("resolve", 3)]


def test_long_card_text_is_clipped_and_reported() -> None:
    card, overflow = r.template_card(_msg(text="标题\n" + "很长" * 200, buttons=(Button("ack", 1),)), "t")
    assert len(card["sub_title_text"]) == r.CARD_TEXT_CHARS
    assert overflow is not None and overflow.endswith("很长")


def test_long_first_line_stays_whole_in_the_card_body() -> None:
    first = "⏰ 响应提醒：#1 登记已1小时，还没有人认领。请负责人或互保伙伴回复 /ack #1。"
    card, overflow = r.template_card(_msg(text=f"{first}\n负责人：bob", buttons=(Button("ack", 1),)), "t")
    assert len(card["main_title"]["title"]) == r.CARD_TITLE_CHARS
    assert card["sub_title_text"] == f"{first}\n负责人：bob"
    assert overflow is None
