""":class:`OutboundMessage` → Feishu message bodies and card-callback answers.

- plain text → ``text`` with ``<at user_id="…">`` mentions;
- markdown → ``post`` with ``at`` elements and one ``md`` paragraph;
- anything with buttons → an ``interactive`` card (JSON 1.0, shared so updates reach everyone)
  whose button values are ``Button.to_value()``.

Risk text is user-supplied: the ``<`` of every ``<at`` in it becomes a full-width ``＜`` so it can
never become a mention or @all (the kernel's sanitizer does the same on input; this is the second
fence); mentions only come from ``message.mentions``/``mention_all``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from itertools import groupby
from typing import Any

from hubao.bot.events import Button, Format, OutboundMessage, User

TEXT_LIMIT = 150 * 1024  # im/v1 text and post content
CARD_LIMIT = 30 * 1024  # interactive content
TOAST_LIMIT = 100  # characters shown in a toast
_AT = re.compile(r"<(\s*)(at\b)", re.IGNORECASE)
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")
DEFAULT_LABELS = {"ack": "确认", "resolve": "解决", "snooze": "暂缓 1 小时", "risk": "登记", "survey": "评分"}
BUTTON_TYPES = {"ack": "primary", "resolve": "primary", "snooze": "default", "risk": "primary", "survey": "default"}


class TooLarge(ValueError):
    """The rendered content is over Feishu's hard limit for its message type."""


def neutralise(text: str) -> str:
    """Stop user text from carrying ``<at …>`` tags (mentions, @all)."""
    return _AT.sub("＜\\1\\2", text)


def _native(user: User) -> str:
    return _ID_UNSAFE.sub("", user.native_id)


def _plain(value: str) -> str:
    return value.replace("<", "＜").replace(">", "＞")


def text_content(message: OutboundMessage) -> dict[str, Any]:
    tags = ['<at user_id="all"></at>'] if message.mention_all else []
    tags += [f'<at user_id="{_native(u)}">{_plain(u.display)}</at>' for u in message.mentions]
    body = neutralise(message.text)
    if message.title:
        body = f"{neutralise(message.title)}\n{body}"
    return {"text": " ".join([*tags, body]) if tags else body}


def post_content(message: OutboundMessage) -> dict[str, Any]:
    paragraphs: list[list[dict[str, Any]]] = []
    ats: list[dict[str, Any]] = [{"tag": "at", "user_id": "all"}] if message.mention_all else []
    ats += [{"tag": "at", "user_id": _native(u), "user_name": u.display} for u in message.mentions]
    if ats:
        paragraphs.append(ats)
    paragraphs.append([{"tag": "md", "text": neutralise(message.text)}])
    return {"zh_cn": {"title": neutralise(message.title), "content": paragraphs}}


def _button(button: Button) -> dict[str, Any]:
    return {
        "tag": "button",
        "text": {"tag": "plain_text", "content": button.label or DEFAULT_LABELS[button.action]},
        "type": BUTTON_TYPES[button.action],
        "value": button.to_value(),
    }


def card(message: OutboundMessage) -> dict[str, Any]:
    elements: list[dict[str, Any]] = []
    ats = ["<at id=all></at>"] if message.mention_all else []
    ats += [f"<at id={_native(u)}></at>" for u in message.mentions]
    if ats:
        elements.append({"tag": "div", "text": {"tag": "lark_md", "content": " ".join(ats)}})
    if message.format is Format.MARKDOWN:
        elements.append({"tag": "markdown", "content": neutralise(message.text)})
    else:
        elements.append({"tag": "div", "text": {"tag": "plain_text", "content": neutralise(message.text)}})
    for _row, buttons in groupby(message.buttons, key=lambda b: b.row):  # a survey: one row per question
        elements.append({"tag": "action", "actions": [_button(b) for b in buttons]})
    result: dict[str, Any] = {"config": {"wide_screen_mode": True, "update_multi": True}, "elements": elements}
    if message.title:
        result["header"] = {
            "title": {"tag": "plain_text", "content": neutralise(message.title)},
            "template": "red" if message.mention_all else "orange",
        }
    return result


def render(message: OutboundMessage) -> tuple[str, str]:
    """(msg_type, content JSON string) for ``POST /open-apis/im/v1/messages``."""
    if message.buttons or message.updates_card:
        kind, body, limit = "interactive", card(message), CARD_LIMIT
    elif message.format is Format.MARKDOWN:
        kind, body, limit = "post", post_content(message), TEXT_LIMIT
    else:
        kind, body, limit = "text", text_content(message), TEXT_LIMIT
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    if len(content.encode()) > limit:
        raise TooLarge(f"{kind} content is {len(content.encode())} bytes, Feishu allows {limit}")
    return kind, content


def _toast_text(text: str) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= TOAST_LIMIT else line[: TOAST_LIMIT - 1] + "…"


def card_answer(replies: Sequence[OutboundMessage]) -> tuple[dict[str, Any], list[OutboundMessage]]:
    """The 3-second answer to a card click, and the replies it did not use (to post normally).

    The reply with ``updates_card`` becomes the new card and its ``toast`` the toast; without one,
    the first reply's text is the toast.
    """
    update = next((r for r in replies if r.updates_card), None)
    if update is not None:
        answer: dict[str, Any] = {"card": {"type": "raw", "data": card(update)}}
        toast = update.toast or _toast_text(update.text)
        if toast:
            answer["toast"] = {"type": "success", "content": toast}
        return answer, [r for r in replies if r is not update]
    if replies:
        first = replies[0]
        return {"toast": {"type": "info", "content": first.toast or _toast_text(first.text)}}, list(replies[1:])
    return {}, []
