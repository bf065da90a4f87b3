"""Feishu payloads (schema 2.0) → :class:`InboundEvent`.

Pure functions: no I/O, no clock reads beyond the ``now`` passed in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hubao.bot.events import Button, InboundEvent, Mention, User

PLATFORM = "feishu"
MESSAGE_EVENT = "im.message.receive_v1"
BOT_ADDED_EVENT = "im.chat.member.bot.added_v1"  # the bot was added to a group
# Events the adapter hands the kernel the way it hands messages (decode_message reads them all).
MESSAGE_EVENTS = (MESSAGE_EVENT, BOT_ADDED_EVENT)
CARD_EVENT = "card.action.trigger"
URL_VERIFICATION = "url_verification"
# Placeholders Feishu puts in message text for @-mentions; \d+ is greedy, so @_user_10
# is never read as @_user_1 followed by "0".
_PLACEHOLDER = re.compile(r"@_user_\d+|@_all")


class DecodeError(ValueError):
    """The payload is authentic but not shaped like the event it claims to be."""


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """How to recognise the bot's own @mention: by open_id, else by display name."""

    open_id: str = ""
    name: str = ""

    def is_bot(self, mention: Mapping[str, Any]) -> bool:
        ids = mention.get("id") or {}
        open_id = ids.get("open_id", "") if isinstance(ids, Mapping) else ""
        if self.open_id:
            return open_id == self.open_id
        return bool(self.name) and mention.get("name") == self.name


def event_type(payload: Mapping[str, Any]) -> str:
    """``header.event_type`` (schema 2.0), ``type`` for url_verification, else ``event.type``."""
    if payload.get("type") == URL_VERIFICATION:
        return URL_VERIFICATION
    header = payload.get("header")
    if isinstance(header, Mapping):
        return str(header.get("event_type", ""))
    event = payload.get("event")
    if isinstance(event, Mapping):
        return str(event.get("type", ""))
    return ""


def event_token(payload: Mapping[str, Any]) -> str | None:
    """The Verification Token the payload carries (``header.token`` or top-level ``token``)."""
    header = payload.get("header")
    if isinstance(header, Mapping) and "token" in header:
        return str(header["token"])
    token = payload.get("token")
    return None if token is None else str(token)


def parse_time(value: Any, fallback: datetime) -> datetime:
    """Feishu times are strings of seconds, milliseconds or microseconds since the epoch."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return fallback
    if number > 10**14:
        number //= 1_000_000
    elif number > 10**11:
        number //= 1000
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return fallback


def _obj(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = parent.get(key)
    if not isinstance(value, Mapping):
        raise DecodeError(f"missing object {key!r}")
    return value


def _str(parent: Mapping[str, Any], key: str) -> str:
    value = parent.get(key)
    if not isinstance(value, str) or not value:
        raise DecodeError(f"missing string {key!r}")
    return value


def message_text(message_type: str, content: str) -> str | None:
    """The plain text of a text or post message with its ``@_user_N`` placeholders."""
    try:
        body = json.loads(content)
    except (TypeError, json.JSONDecodeError, RecursionError) as exc:
        raise DecodeError("message content is not JSON") from exc
    if not isinstance(body, Mapping):
        raise DecodeError("message content is not an object")
    if message_type == "text":
        text = body.get("text")
        return text if isinstance(text, str) else None
    if message_type == "post":
        return _post_text(body)
    return None


def _post_text(body: Mapping[str, Any]) -> str | None:
    if "content" not in body:  # localised form {"zh_cn": {...}}
        body = next((v for v in body.values() if isinstance(v, Mapping) and "content" in v), {})
    paragraphs = body.get("content")
    if not isinstance(paragraphs, list):
        return None
    lines: list[str] = []
    for paragraph in paragraphs:
        parts: list[str] = []
        for element in paragraph if isinstance(paragraph, list) else ():
            if not isinstance(element, Mapping):
                continue
            tag = element.get("tag")
            if tag in ("text", "a", "md") and isinstance(element.get("text"), str):
                parts.append(element["text"])
            elif tag == "at":
                user_id = str(element.get("user_id", ""))
                parts.append(f" {user_id} " if user_id.startswith("@_") else f" @{element.get('user_name', '')} ")
        lines.append("".join(parts))
    return "\n".join(lines)


def decode_message(payload: Mapping[str, Any], bot: BotIdentity, now: datetime) -> InboundEvent | None:
    """An ``im.message.receive_v1`` event (or one of :data:`MESSAGE_EVENTS`); None for what the
    bot does not read (images, apps)."""
    if event_type(payload) == BOT_ADDED_EVENT:
        return decode_bot_added(payload, now)
    header = _obj(payload, "header")
    event = _obj(payload, "event")
    message = _obj(event, "message")
    sender = _obj(event, "sender")
    if sender.get("sender_type", "user") != "user":
        return None
    open_id = _str(_obj(sender, "sender_id"), "open_id")
    raw = message_text(str(message.get("message_type", "")), str(message.get("content", "")))
    if raw is None:
        return None

    listed = message.get("mentions") or ()
    if not isinstance(listed, list | tuple):
        raise DecodeError("mentions is not a list")
    by_key: dict[str, Mapping[str, Any]] = {}
    for item in listed:
        if isinstance(item, Mapping) and isinstance(item.get("key"), str):
            by_key[item["key"]] = item

    mentions: dict[str, Mention] = {}
    mentions_all = False
    bot_mentioned = False

    def replace(match: re.Match[str]) -> str:
        nonlocal mentions_all, bot_mentioned
        key = match.group(0)
        item = by_key.get(key)
        if key == "@_all":
            mentions_all = True
        elif item is not None and bot.is_bot(item):
            bot_mentioned = True
            return ""
        elif item is not None:
            ids = item.get("id") or {}
            user_open_id = ids.get("open_id", "") if isinstance(ids, Mapping) else ""
            if user_open_id and key not in mentions:
                mentions[key] = Mention(User(f"{PLATFORM}:{user_open_id}", str(item.get("name", ""))), key)
        # Keep the placeholder a word of its own so the command parser sees it as a token.
        before = "" if match.start() == 0 or match.string[match.start() - 1].isspace() else " "
        after = "" if match.end() == len(match.string) or match.string[match.end()].isspace() else " "
        return f"{before}{key}{after}"

    text = _PLACEHOLDER.sub(replace, raw).strip()
    message_id = _str(message, "message_id")
    return InboundEvent(
        platform=PLATFORM,
        chat_id=_str(message, "chat_id"),
        sender=User(f"{PLATFORM}:{open_id}"),
        text=text,
        message_id=_str(header, "event_id"),
        time=parse_time(message.get("create_time") or header.get("create_time"), now),
        mentions=tuple(mentions.values()),
        mentions_all=mentions_all,
        addressed=bot_mentioned or message.get("chat_type") == "p2p",
        reply_handle={"message_id": message_id, "chat_type": str(message.get("chat_type", ""))},
    )


def decode_bot_added(payload: Mapping[str, Any], now: datetime) -> InboundEvent:
    """``im.chat.member.bot.added_v1``: the bot joined ``event.chat_id``, added by ``operator_id``."""
    header = _obj(payload, "header")
    event = _obj(payload, "event")
    operator = _str(_obj(event, "operator_id"), "open_id")
    return InboundEvent(
        platform=PLATFORM,
        chat_id=_str(event, "chat_id"),
        sender=User(f"{PLATFORM}:{operator}"),
        text="",
        message_id=_str(header, "event_id"),
        time=parse_time(header.get("create_time"), now),
        kind="joined",
    )


def decode_card_action(payload: Mapping[str, Any], now: datetime) -> InboundEvent | None:
    """A ``card.action.trigger`` callback on one of our buttons; None for foreign buttons."""
    header = _obj(payload, "header")
    event = _obj(payload, "event")
    action = _obj(event, "action")
    context = _obj(event, "context")
    operator = _obj(event, "operator")
    try:
        button = Button.from_value(action.get("value"))
    except ValueError:
        return None
    handle = {"message_id": str(context.get("open_message_id", ""))}
    if isinstance(event.get("token"), str):
        handle["card_token"] = event["token"]
    return InboundEvent(
        platform=PLATFORM,
        chat_id=_str(context, "open_chat_id"),
        sender=User(f"{PLATFORM}:{_str(operator, 'open_id')}"),
        text=button.command,
        message_id=_str(header, "event_id"),
        time=parse_time(header.get("create_time"), now),
        button=button,
        reply_handle=handle,
    )
