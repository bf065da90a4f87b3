"""DingTalk payloads → :class:`InboundEvent`. Pure functions, shared by both transports."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hubao.bot.events import BUTTON_ACTIONS, Button, InboundEvent, Mention, User

PLATFORM = "dingtalk"
CARD_PREFIX = "hubao"
# "@name" tokens as DingTalk puts them into text.content: after start or whitespace.
_AT_TOKEN = re.compile(r"(?:(?<=\s)|^)@[^\s@]+")


class PayloadError(ValueError):
    """The body is not a robot message / card callback we can read."""


def _user(native_id: str, name: str = "") -> User:
    return User(f"{PLATFORM}:{native_id}", name)


def _millis(value: Any, fallback: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return fallback


def message_text(payload: Mapping[str, Any]) -> str | None:
    """The typed text of a robot message (text or richText); None for pictures, audio, files."""
    kind = payload.get("msgtype", "text")
    if kind == "text":
        text = payload.get("text")
        if not isinstance(text, Mapping) or not isinstance(text.get("content"), str):
            raise PayloadError("text message without text.content")
        return text["content"]
    if kind == "richText":
        content = payload.get("content")
        parts = content.get("richText") if isinstance(content, Mapping) else None
        if not isinstance(parts, list):
            raise PayloadError("richText message without content.richText")
        return "".join(p["text"] for p in parts if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return None


def decode_message(payload: Any, now: datetime) -> InboundEvent | None:
    """A robot message (HTTP callback body or Stream ``data``) → event; None if not a text message.

    DingTalk already removes the robot's own @name from ``text.content`` (leaving a leading
    space); ``atUsers`` lists everyone mentioned, the robot included (its ``dingtalkId`` is
    ``chatbotUserId``). atUsers carries ids but no names, so the k-th ``@name`` token of the text
    is paired with the k-th other mentioned user when the counts agree (order UNCONFIRMED);
    otherwise no mentions are reported and the kernel resolves the names against the group.
    """
    if not isinstance(payload, Mapping):
        raise PayloadError("body is not a JSON object")
    for key in ("msgId", "conversationId"):
        if not isinstance(payload.get(key), str) or not payload[key]:
            raise PayloadError(f"missing {key}")
    sender_id = payload.get("senderStaffId") or payload.get("senderId")
    if not isinstance(sender_id, str) or not sender_id:
        raise PayloadError("missing sender")
    raw = message_text(payload)
    if raw is None:
        return None
    text = raw.strip()

    bot_id = payload.get("chatbotUserId")
    at_users = payload.get("atUsers") or []
    if not isinstance(at_users, list):
        raise PayloadError("atUsers is not a list")
    others: list[User] = []
    for item in at_users:
        if not isinstance(item, Mapping):
            continue
        if bot_id and item.get("dingtalkId") == bot_id:
            continue
        native = item.get("staffId") or item.get("dingtalkId")
        if isinstance(native, str) and native:
            others.append(_user(native))
    tokens = _AT_TOKEN.findall(text)
    mentions: tuple[Mention, ...] = ()
    if others and len(tokens) == len(others):
        mentions = tuple(Mention(user=User(u.id, tok[1:]), token=tok) for u, tok in zip(others, tokens, strict=True))
    mentions_all = bool(payload.get("isAtAll")) or any(t in ("@所有人", "@all") for t in tokens)

    handle: dict[str, str] = {"kind": "message", "conversation_type": str(payload.get("conversationType", ""))}
    if isinstance(payload.get("sessionWebhook"), str) and payload["sessionWebhook"]:
        handle["session_webhook"] = payload["sessionWebhook"]
        handle["session_webhook_expires"] = str(payload.get("sessionWebhookExpiredTime", "0"))
    if isinstance(payload.get("robotCode"), str):
        handle["robot_code"] = payload["robotCode"]
    return InboundEvent(
        platform=PLATFORM,
        chat_id=payload["conversationId"],
        sender=_user(sender_id, str(payload.get("senderNick") or "")),
        text=text,
        message_id=payload["msgId"],
        time=_millis(payload.get("createAt"), now),
        mentions=mentions,
        mentions_all=mentions_all,
        addressed=True,  # the robot receives only group messages that @-mention it, and direct chats
        reply_handle=handle,
    )


# ---- interactive cards -----------------------------------------------------------------


def encode_track_id(chat_id: str, risk: int, nonce: str) -> str:
    """The card's ``outTrackId``: carries the chat and the risk, so a click needs no lookup."""
    chat = base64.urlsafe_b64encode(chat_id.encode("utf-8")).decode("ascii").rstrip("=")
    return f"{CARD_PREFIX}.{risk}.{chat}.{nonce}"


def decode_track_id(track_id: str) -> tuple[str, int]:
    parts = track_id.split(".")
    if len(parts) != 4 or parts[0] != CARD_PREFIX or not parts[1].isdigit():
        raise PayloadError("card is not one of ours")
    try:
        chat = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise PayloadError("card track id is corrupt") from exc
    return chat, int(parts[1])


def _json_object(value: Any) -> Mapping[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value else {}
        except (json.JSONDecodeError, RecursionError) as exc:
            raise PayloadError("callback content is not JSON") from exc
    return value if isinstance(value, Mapping) else {}


def decode_card_click(payload: Any, now: datetime, delivery_id: str = "") -> InboundEvent:
    """A card action callback (Stream topic /v1.0/card/instances/callback, or HTTP) → event.

    Shape (SDK sample): ``{"outTrackId","userId","corpId","type":"actionCallback","content":
    "{\\"cardPrivateData\\":{\\"actionIds\\":[...],\\"params\\":{...}}}", "spaceType","spaceId"}``
    (``value`` in some versions). The action is the button's callback parameter ``hubao``
    (``action`` accepted too) or, failing that, its component id; the risk is the ``risk``
    parameter or the one encoded in ``outTrackId``.
    """
    if not isinstance(payload, Mapping):
        raise PayloadError("body is not a JSON object")
    track_id = payload.get("outTrackId")
    user_id = payload.get("userId")
    if not isinstance(track_id, str) or not isinstance(user_id, str) or not user_id:
        raise PayloadError("card callback without outTrackId/userId")
    chat_id, risk = decode_track_id(track_id)
    content = _json_object(payload.get("content") or payload.get("value") or "")
    private = content.get("cardPrivateData")
    private = private if isinstance(private, Mapping) else {}
    params = private.get("params")
    params = params if isinstance(params, Mapping) else {}
    action_ids = private.get("actionIds")
    action_ids = [a for a in action_ids if isinstance(a, str)] if isinstance(action_ids, list) else []

    action = params.get("hubao") or params.get("action")
    if action not in BUTTON_ACTIONS:
        action = next((a for a in action_ids if a in BUTTON_ACTIONS), None)
    if action is None:
        raise PayloadError("click names no known action")
    param_risk = params.get("risk")
    readable = isinstance(param_risk, int | str) and not isinstance(param_risk, bool)
    if readable and str(param_risk).isdigit() and int(str(param_risk)) != risk:
        raise PayloadError("click risk disagrees with its card")
    try:
        button = Button.from_value({"hubao": action, "risk": risk})
    except ValueError as exc:
        raise PayloadError(str(exc)) from exc
    key = delivery_id or hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]
    return InboundEvent(
        platform=PLATFORM,
        chat_id=chat_id,
        sender=_user(user_id),
        text=button.command,
        message_id=f"card:{track_id}:{user_id}:{action}:{key}",
        time=now,
        button=button,
        reply_handle={"kind": "card", "out_track_id": track_id},
    )
