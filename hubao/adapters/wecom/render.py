"""OutboundMessage → WeCom bodies: AI-bot stream / markdown / template_card, group-robot text and markdown.

Facts used (platforms.md §1.4, §1.5):
- group robot ``text.content`` ≤ 2048 bytes, ``markdown.content`` ≤ 4096 bytes;
- @user / @all ping only through ``text.mentioned_list`` (``"@all"`` for everyone); markdown cannot
  @, so the ping goes out as a separate text message;
- ``<@userid>`` inside content also mentions, so user-supplied text has ``<@`` defused;
- interactive cards are AI-bot only: ``button_interaction`` with ``button_list[].key`` coming back
  as ``template_card_event.event_key`` and a ``task_id`` that an update must repeat.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from hubao.adapters.wecom.wire import button_key
from hubao.bot.events import Button, Format, OutboundMessage, User

TEXT_LIMIT = 2048
MARKDOWN_LIMIT = 4096
CARD_TITLE_CHARS = 36
CARD_TEXT_CHARS = 160
MAX_BUTTONS = 6
DEFAULT_LABELS = {"ack": "收到", "resolve": "已解决", "snooze": "暂缓 1 小时", "risk": "登记"}
_BUTTON_STYLE = {"ack": 1, "resolve": 1, "snooze": 2, "risk": 1}


def defuse(text: str) -> str:
    """Keep user text from pinging: ``<@id>`` mentions in content become plain text."""
    return text.replace("<@", "<\u200b@")


def split_utf8(text: str, limit: int) -> list[str]:
    """Split into pieces of at most ``limit`` UTF-8 bytes, at line ends where possible."""
    if len(text.encode()) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        if len((current + line).encode()) <= limit:
            current += line
            continue
        if current:
            pieces.append(current)
            current = ""
        while len(line.encode()) > limit:
            cut = _prefix_within(line, limit)
            pieces.append(line[:cut])
            line = line[cut:]
        current = line
    if current:
        pieces.append(current)
    return [p.rstrip("\n") or p for p in pieces]


def _prefix_within(text: str, limit: int) -> int:
    size = 0
    for index, char in enumerate(text):
        size += len(char.encode())
        if size > limit:
            return max(index, 1)
    return len(text)


def wecom_ids(users: Sequence[User]) -> list[str]:
    """Native ids to ping; never one that would read as a special target such as ``@all``."""
    return list(
        dict.fromkeys(
            u.native_id
            for u in users
            if u.platform == "wecom" and u.native_id and not u.native_id.startswith(("@", "＠"))
        )
    )


def mention_list(message: OutboundMessage) -> list[str]:
    ids = wecom_ids(message.mentions)
    return [*ids, "@all"] if message.mention_all else ids


def body_text(message: OutboundMessage) -> str:
    """Title and text as one block (markdown heading when the message is markdown)."""
    text = defuse(message.text)
    if not message.title:
        return text
    title = defuse(message.title)
    head = f"**{title}**" if message.format is Format.MARKDOWN else title
    return f"{head}\n{text}" if text else head


def inline_mentions(message: OutboundMessage) -> str:
    """Best-effort mention line for AI-bot markdown, where a real ping is not available."""
    parts = [f"<@{uid}>" for uid in wecom_ids(message.mentions)]
    if message.mention_all:
        parts.append("@所有人")
    return " ".join(parts)


def command_hint(buttons: Sequence[Button]) -> str:
    """Where a card cannot be sent, the buttons become the commands they stand for."""
    return " · ".join(f"`{b.command}`" for b in buttons)


def ping_text(message: OutboundMessage) -> str:
    """Content of the separate text message that carries the @-ping."""
    first = (message.title or message.text).strip().splitlines()
    return defuse(first[0][:200]) if first else "🔔"


def new_task_id(button: Button | None = None) -> str:
    prefix = f"hubao-{button.risk_number}-" if button else "hubao-"
    return prefix + secrets.token_hex(8)


def template_card(message: OutboundMessage, task_id: str) -> tuple[dict[str, Any], str | None]:
    """A ``button_interaction`` card; second value is the full text when the card had to shorten it."""
    lines = message.text.strip().splitlines()
    title = message.title or (lines[0] if lines else "")
    rest = "\n".join(lines[1:]).strip() if not message.title else message.text.strip()
    if len(title) > CARD_TITLE_CHARS:  # a long first line is kept whole in the body
        rest = f"{title}\n{rest}".strip() if not message.title else rest
        title = _clip(title, CARD_TITLE_CHARS)
    overflow = body_text(message) if len(rest) > CARD_TEXT_CHARS else None
    card: dict[str, Any] = {
        "card_type": "button_interaction",
        "main_title": {"title": _clip(title, CARD_TITLE_CHARS) or "HuBao"},
        "task_id": task_id,
        "button_list": [
            {"text": _clip(b.label or DEFAULT_LABELS[b.action], 10), "style": _BUTTON_STYLE[b.action], "key": key}
            for b in message.buttons[:MAX_BUTTONS]
            if (key := button_key(b)) is not None  # a /risk line too long for a key stays in the text only
        ],
    }
    if rest:
        card["sub_title_text"] = _clip(rest, CARD_TEXT_CHARS)
    return card, overflow


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


# ---- group robot (消息推送) bodies -------------------------------------------------------------


def robot_text(content: str, mentioned: Sequence[str]) -> dict[str, Any]:
    text: dict[str, Any] = {"content": content}
    if mentioned:
        text["mentioned_list"] = list(mentioned)
    return {"msgtype": "text", "text": text}


def robot_markdown(content: str) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"content": content}}


def robot_bodies(message: OutboundMessage) -> list[dict[str, Any]]:
    """What the group robot sends for ``message``: text with mentioned_list, or markdown + ping."""
    content = body_text(message)
    if message.buttons:
        content = f"{content}\n{command_hint(message.buttons)}" if content else command_hint(message.buttons)
    mentioned = mention_list(message)
    if message.format is Format.TEXT:
        pieces = split_utf8(content, TEXT_LIMIT)
        return [robot_text(p, mentioned if i == len(pieces) - 1 else ()) for i, p in enumerate(pieces)]
    bodies = [robot_markdown(p) for p in split_utf8(content, MARKDOWN_LIMIT)]
    if mentioned:
        bodies.append(robot_text(ping_text(message), mentioned))
    return bodies


# ---- AI bot bodies --------------------------------------------------------------------------------


def aibot_markdown_pieces(message: OutboundMessage, *, with_mentions: bool) -> list[str]:
    content = body_text(message)
    if with_mentions and (line := inline_mentions(message)):
        content = f"{content}\n{line}" if content else line
    return split_utf8(content, MARKDOWN_LIMIT)


def stream_body(content: str) -> dict[str, Any]:
    """A finished one-shot stream: how the AI bot answers a message (aibot_respond_msg)."""
    return {"msgtype": "stream", "stream": {"id": secrets.token_hex(8), "finish": True, "content": content}}


def markdown_body(content: str) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"content": content}}


def card_body(card: dict[str, Any]) -> dict[str, Any]:
    return {"msgtype": "template_card", "template_card": card}


def card_update_body(card: dict[str, Any]) -> dict[str, Any]:
    return {"response_type": "update_template_card", "template_card": card}
