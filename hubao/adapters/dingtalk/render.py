"""OutboundMessage → DingTalk bodies (webhook, robot OpenAPI, card parameters). Pure functions."""

from __future__ import annotations

import json
import re
from typing import Any

from hubao.bot.events import Format, OutboundMessage

# Inserted after every "@" of the message's own text, so user-supplied text can never form
# an "@<id>" token DingTalk would pair with an ``at`` entry; the mentions we add are exact.
_NEUTRAL_AT = "@\u200b"
ACTION_LABELS = {"ack": "认领", "resolve": "解决", "snooze": "暂缓 1h"}


def at_user_ids(message: OutboundMessage) -> list[str]:
    return list(dict.fromkeys(u.native_id for u in message.mentions if u.platform == "dingtalk"))


_SINGLE_NEWLINE = re.compile(r"(?<!\n)\n(?!\n)")


def body_text(message: OutboundMessage) -> str:
    """The text with user "@"s neutralised and each mention rendered as ``@<userId>``.

    A mention whose display name already appears as ``@name`` is rendered in place; others are
    appended. DingTalk shows ``@<userId>`` as the person's name when the id is in ``atUserIds``.
    """
    text = message.text.replace("@", _NEUTRAL_AT)
    tail: list[str] = []
    for user in message.mentions:
        if user.platform != "dingtalk":
            continue
        token = f"@{user.native_id}"
        named = f"{_NEUTRAL_AT}{user.name}" if user.name else ""
        if named and named in text:
            text = text.replace(named, token, 1)
        elif token not in tail:
            tail.append(token)
    if message.mention_all:
        tail.append("@所有人")
    if tail:
        sep = "\n\n" if message.format is Format.MARKDOWN else " "
        text = f"{text}{sep}{' '.join(tail)}" if text else " ".join(tail)
    return text


def title_of(message: OutboundMessage) -> str:
    if message.title:
        return message.title
    first = message.text.strip().splitlines()[0] if message.text.strip() else "HuBao"
    return first[:30].replace("@", _NEUTRAL_AT)


def buttons_hint(message: OutboundMessage) -> str:
    """Without a card template, buttons become the commands they stand for."""
    if not message.buttons:
        return ""
    commands = " · ".join(f"`{b.command}`" for b in message.buttons)
    return f"\n\n{commands}"


def hard_breaks(markdown: str) -> str:
    """DingTalk markdown joins lines split by one newline; two trailing spaces keep the break."""
    return _SINGLE_NEWLINE.sub("  \n", markdown)


def webhook_body(message: OutboundMessage, *, with_buttons_hint: bool = True) -> dict[str, Any]:
    """Body for a sessionWebhook or custom robot webhook (same shape)."""
    text = body_text(message)
    hint = buttons_hint(message) if with_buttons_hint else ""
    at = {"atUserIds": at_user_ids(message), "isAtAll": message.mention_all}
    if message.format is Format.MARKDOWN or hint:
        markdown = {"title": title_of(message), "text": hard_breaks(text) + hint}
        return {"msgtype": "markdown", "markdown": markdown, "at": at}
    return {"msgtype": "text", "text": {"content": text}, "at": at}


def openapi_body(message: OutboundMessage, robot_code: str, chat_id: str) -> dict[str, Any]:
    """Body of POST /v1.0/robot/groupMessages/send. This API has no @ field: mentions are text."""
    text = body_text(message)
    hint = buttons_hint(message)
    if message.format is Format.MARKDOWN or hint:
        key, param = "sampleMarkdown", {"title": title_of(message), "text": hard_breaks(text) + hint}
    else:
        key, param = "sampleText", {"content": text}
    return {
        "robotCode": robot_code,
        "openConversationId": chat_id,
        "msgKey": key,
        "msgParam": json.dumps(param, ensure_ascii=False),
    }


def card_params(message: OutboundMessage) -> dict[str, str]:
    """The ``cardParamMap`` of our card template (all values are strings, as DingTalk wants)."""
    risk = message.buttons[0].risk_number if message.buttons else 0
    params = {
        "title": title_of(message),
        # Cards ping through the deliver model's atUserIds; "@<userId>" would show verbatim.
        "markdown": hard_breaks(message.text.replace("@", _NEUTRAL_AT)),
        "risk": str(risk) if risk else "",
        "has_actions": "true" if message.buttons else "false",
    }
    for action, label in ACTION_LABELS.items():
        button = next((b for b in message.buttons if b.action == action), None)
        params[f"{action}_label"] = (button.label or label) if button else ""
        params[f"show_{action}"] = "true" if button else "false"
    return params
