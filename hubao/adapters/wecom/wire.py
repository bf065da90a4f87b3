"""The AI bot's JSON (same body over the HTTP callback and in WebSocket frames) → InboundEvent.

What WeCom sends (doc 100719, 101027): ``msgid`` (dedupe id), ``chatid`` (absent in single chats),
``chattype``, ``from.userid``, ``response_url``, ``msgtype`` text / mixed / voice / event, and for a
card click ``event.eventtype == "template_card_event"`` with ``event.template_card_event.{event_key,
task_id, card_type}``. The text carries the bot's own "@name" prefix. Other people's @-mentions
arrive only as "@Name" in the text, without ids: they stay in the text (the kernel resolves names
against the group's members) and no :class:`Mention` is made for them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from hubao.bot.events import BUTTON_ACTIONS, Button, InboundEvent, User

PLATFORM = "wecom"
_KEY = re.compile(r"hubao_(" + "|".join(BUTTON_ACTIONS) + r")_(\d{1,9})")
_ALL = re.compile(r"(?:^|(?<=\s))[@＠](?:all|所有人|全体成员)(?=\s|$)", re.IGNORECASE)


class PayloadError(ValueError):
    """The decrypted body is not an AI-bot callback we understand."""


KEY_LIMIT = 1024  # bytes of a template-card button key (AI bot, doc 101031)


def button_key(button: Button) -> str | None:
    """A card button's ``key``: the typed value of :meth:`Button.to_value`, in the charset of task ids;
    a one-tap "log it" button carries its /risk line as the JSON value, or has no key (None) when
    that is over the key's 1024 bytes."""
    value = button.to_value()
    if button.action == "risk":
        key = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return key if len(key.encode()) <= KEY_LIMIT else None
    return f"hubao_{value['hubao']}_{value['risk']}"


def parse_button_key(key: str) -> Button:
    """Inverse of :func:`button_key`; JSON made by ``to_value`` is accepted too. Raises ValueError."""
    match = _KEY.fullmatch(key.strip())
    if match:
        return Button.from_value({"hubao": match.group(1), "risk": int(match.group(2))})
    return Button.from_value(key)


def strip_bot_mention(text: str, bot_name: str, *, group: bool) -> str:
    """Drop the bot's own "@name" (the first one); without a configured name, a leading @word in groups."""
    text = text.strip()
    if bot_name:
        pattern = re.compile(r"(?:^|(?<=\s))[@＠]" + re.escape(bot_name) + r"(?=\s|$)")
        stripped, count = pattern.subn("", text, count=1)
        if count:
            return _tidy(stripped)
    if group and text.startswith(("@", "＠")):
        parts = text.split(maxsplit=1)
        return _tidy(parts[1] if len(parts) > 1 else "")
    return _tidy(text)


def _tidy(text: str) -> str:
    return text.strip()


@dataclass(frozen=True, slots=True)
class Decoded:
    kind: Literal["message", "card_click", "ignored", "kicked"]
    event: InboundEvent | None = None
    reason: str = ""
    handle: Mapping[str, str] = field(default_factory=dict)


def message_text(body: Mapping[str, Any]) -> str | None:
    """The text of a text / mixed / voice message; None for anything else."""
    kind = body.get("msgtype")
    if kind == "text":
        return _str(_obj(body.get("text")).get("content"))
    if kind == "voice":
        return _str(_obj(body.get("voice")).get("content"))
    if kind == "mixed":
        items = _obj(body.get("mixed")).get("msg_item")
        if not isinstance(items, list):
            return None
        texts = [_str(_obj(_obj(i).get("text")).get("content")) for i in items if _obj(i).get("msgtype") == "text"]
        return " ".join(t for t in texts if t)
    return None


def decode(body: Any, *, bot_name: str, now: datetime, handle: Mapping[str, str]) -> Decoded:
    """Turn one decrypted callback into an event, or say why it is ignored.

    ``handle`` holds the transport's own reply data (req_id or response_url); chat and card
    details are added here.
    """
    if not isinstance(body, Mapping):
        raise PayloadError("callback body is not a JSON object")
    msgid = _str(body.get("msgid"))
    sender_id = _str(_obj(body.get("from")).get("userid"))
    chattype = _str(body.get("chattype")) or "single"
    chat_id = _str(body.get("chatid")) or sender_id
    msgtype = _str(body.get("msgtype"))
    if msgtype == "event":
        event = _obj(body.get("event"))
        eventtype = _str(event.get("eventtype"))
        if eventtype == "disconnected_event":
            return Decoded("kicked", reason=eventtype)
        if eventtype != "template_card_event":
            return Decoded("ignored", reason=f"event {eventtype or '?'}")
        click = _obj(event.get("template_card_event"))
        if not msgid or not sender_id:
            raise PayloadError("card event without msgid or sender")
        try:
            button = parse_button_key(_str(click.get("event_key")))
        except ValueError:
            return Decoded("ignored", reason="card event for a foreign button")
        reply = {**handle, "chat_id": chat_id, "chattype": chattype, "userid": sender_id}
        task_id = _str(click.get("task_id"))
        if task_id:
            reply["task_id"] = task_id
        return Decoded(
            "card_click",
            InboundEvent(
                platform=PLATFORM,
                chat_id=chat_id,
                sender=User(f"{PLATFORM}:{sender_id}"),
                text=button.command,
                message_id=msgid,
                time=now,
                button=button,
                reply_handle=reply,
            ),
            handle=reply,
        )
    text = message_text(body)
    if text is None:
        return Decoded("ignored", reason=f"msgtype {msgtype or '?'}")
    if not msgid or not sender_id:
        raise PayloadError("message without msgid or sender")
    text = strip_bot_mention(text, bot_name, group=chattype == "group")
    reply = {**handle, "chat_id": chat_id, "chattype": chattype, "userid": sender_id}
    return Decoded(
        "message",
        InboundEvent(
            platform=PLATFORM,
            chat_id=chat_id,
            sender=User(f"{PLATFORM}:{sender_id}"),
            text=text,
            message_id=msgid,
            time=now,
            mentions_all=bool(_ALL.search(text)),
            addressed=True,  # the AI bot receives only messages that @-mention it, and its direct chats
            reply_handle=reply,
        ),
        handle=reply,
    )


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
