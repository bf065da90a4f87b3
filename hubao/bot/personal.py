"""Personal escalation as the kernel and the adapters see it: a queued message that reaches people
directly instead of (besides) the group.

The core queues, next to a group ping, one outbox message per *kind* of direct reach the
platform's settings turn on (``personal_kinds(level)`` on the platform's settings model: Feishu
``app``/``sms``/``phone`` buzzes, DingTalk ``robot`` one-to-one messages or ``work_notice``, WeCom
``app`` application messages). Such a message has ``reply_handle["personal"]`` set to its kind;
its mentions are the people to reach and ``reply_handle["ping"]`` holds the group ping it follows
(JSON), whose ``reply_handle["idempotency_key"]`` is the ping's platform idempotency key. Each
kind waits in a send channel of its own (``personal:<kind>``), so a slow or failing direct
message never holds back the group ping, and is retried and rate-limited like any other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hubao.bot.events import OutboundMessage

PERSONAL = "personal"
CHANNEL_PREFIX = "personal:"


def kind_of(handle: Mapping[str, Any]) -> str:
    """The kind of direct reach of a queued message ("" for any other message)."""
    return str(handle.get(PERSONAL, "") or "")


def channel_of(payload: Mapping[str, Any]) -> str:
    """The send channel of a personal message (``personal:<kind>``); "" for others."""
    kind = kind_of(payload.get("reply_handle") or {})
    return f"{CHANNEL_PREFIX}{kind}" if kind else ""


def handle(kind: str, level: str, ping: OutboundMessage) -> dict[str, str]:
    return {PERSONAL: kind, "level": level, "ping": json.dumps(ping.to_json(), ensure_ascii=False)}


def ping_of(message: OutboundMessage) -> OutboundMessage:
    """The group ping a personal message follows."""
    return OutboundMessage.from_json(json.loads(message.reply_handle["ping"]))


def native_ids(message: OutboundMessage) -> list[str]:
    """The platform's own ids of the people to reach (``feishu:ou_x`` → ``ou_x``), each once."""
    prefix = f"{message.platform}:"
    return list(dict.fromkeys(u.id.removeprefix(prefix) for u in message.mentions if u.id.startswith(prefix)))
