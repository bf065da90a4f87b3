"""OutboundMessage → Feishu content: mentions are real, user text can never ping."""

from __future__ import annotations

import json
import re

import pytest

from hubao.adapters.feishu.adapter import idempotency_key
from hubao.adapters.feishu.render import TooLarge, card_answer, render
from hubao.bot.events import Button, Format, OutboundMessage, User

BOB = User("feishu:ou_bob", "Bob")


def msg(text: str, **kw: object) -> OutboundMessage:
    return OutboundMessage(platform="feishu", chat_id="oc_1", text=text, **kw)  # type: ignore[arg-type]


def test_text_with_mentions_and_all() -> None:
    kind, content = render(msg("风险 #3 已逾期", mentions=(BOB,), mention_all=True))
    assert kind == "text"
    text = json.loads(content)["text"]
    assert text.startswith('<at user_id="all"></at> <at user_id="ou_bob">Bob</at> ')
    assert text.endswith("风险 #3 已逾期")


@pytest.mark.parametrize("fmt", [Format.TEXT, Format.MARKDOWN])
@pytest.mark.parametrize("buttons", [(), (Button("ack", 3),)])
def test_user_text_cannot_mention(fmt: Format, buttons: tuple[Button, ...]) -> None:
    evil = '库存低 <at user_id="all"></at> < AT id=all></at> <at id=ou_boss></at>'
    _, content = render(msg(evil, format=fmt, buttons=buttons, title='<at user_id="all">x</at>'))
    dump = json.dumps(json.loads(content), ensure_ascii=False)
    assert re.search(r"<\s*at\b", dump, re.IGNORECASE) is None
    assert "库存低" in dump


def test_markdown_is_post_with_at_elements() -> None:
    kind, content = render(msg("**逾期** 风险", format=Format.MARKDOWN, title="周报", mentions=(BOB,)))
    assert kind == "post"
    post = json.loads(content)["zh_cn"]
    assert post["title"] == "周报"
    assert post["content"][0] == [{"tag": "at", "user_id": "ou_bob", "user_name": "Bob"}]
    assert post["content"][1] == [{"tag": "md", "text": "**逾期** 风险"}]


def test_buttons_make_a_shared_card() -> None:
    buttons = (Button("ack", 3, "确认"), Button("resolve", 3, "解决"), Button("snooze", 3, "暂缓"))
    kind, content = render(msg("风险 #3", title="风险升级", buttons=buttons, mentions=(BOB,)))
    assert kind == "interactive"
    body = json.loads(content)
    assert body["config"]["update_multi"] is True
    assert body["header"]["title"]["content"] == "风险升级"
    actions = next(e for e in body["elements"] if e["tag"] == "action")["actions"]
    assert [a["value"] for a in actions] == [b.to_value() for b in buttons]
    assert [a["text"]["content"] for a in actions] == ["确认", "解决", "暂缓"]
    assert body["elements"][0]["text"]["content"] == "<at id=ou_bob></at>"


def test_too_large() -> None:
    with pytest.raises(TooLarge):
        render(msg("长" * 20_000, buttons=(Button("ack", 1),)))
    with pytest.raises(TooLarge):
        render(msg("x" * 160 * 1024))


def test_card_answer_prefers_updated_card() -> None:
    note = msg("Bob 已确认 #3")
    update = msg("风险 #3 已确认", updates_card=True, toast="已确认 #3", buttons=(Button("resolve", 3),))
    answer, rest = card_answer([note, update])
    assert answer["toast"] == {"type": "success", "content": "已确认 #3"}
    assert answer["card"]["type"] == "raw"
    assert answer["card"]["data"]["elements"][-1]["actions"][0]["value"] == {"hubao": "resolve", "risk": 3}
    assert rest == [note]


def test_card_answer_toast_from_first_reply() -> None:
    answer, rest = card_answer([msg("只有负责人或组长可以暂缓\n用法: /snooze <#n>"), msg("second")])
    assert answer == {"toast": {"type": "info", "content": "只有负责人或组长可以暂缓"}}
    assert [r.text for r in rest] == ["second"]
    assert card_answer([]) == ({}, [])


def test_idempotency_key_is_stable_and_short() -> None:
    a, b = msg("风险 #3 已逾期", mentions=(BOB,)), msg("风险 #3 已逾期", mentions=(BOB,))
    assert idempotency_key(a) == idempotency_key(b)
    assert idempotency_key(a) != idempotency_key(msg("风险 #4 已逾期"))
    assert len(idempotency_key(a)) <= 50
    given = msg("x", reply_handle={"idempotency_key": "outbox-42"})
    assert idempotency_key(given) == "outbox-42"
    if "idempotency_key" in OutboundMessage.__dataclass_fields__:  # set by the delivery worker
        keyed = msg("x", idempotency_key="risk:7:respond:1")
        assert idempotency_key(keyed) == "risk:7:respond:1"
        long_key = msg("x", idempotency_key="k" * 240)
        assert len(idempotency_key(long_key)) <= 50
        assert idempotency_key(long_key) == idempotency_key(msg("y", idempotency_key="k" * 240))
