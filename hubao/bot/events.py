"""The two values every adapter speaks: one inbound event, one outbound message.

Adapters turn a platform payload into an :class:`InboundEvent` and render an
:class:`OutboundMessage` into the platform's wire format. Nothing past the adapter
sees a platform payload.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

ButtonAction = str  # one of BUTTON_ACTIONS
BUTTON_ACTIONS = ("ack", "resolve", "snooze", "risk", "survey")
RISK_LINE_MAX = 600  # characters of the /risk line a "log it" button carries
EVENT_KINDS = ("message", "joined")


@dataclass(frozen=True, slots=True)
class User:
    """A person, namespaced by platform: ``feishu:ou_xxx``, ``wecom:zhangsan``."""

    id: str
    name: str = ""

    @property
    def platform(self) -> str:
        return self.id.split(":", 1)[0]

    @property
    def native_id(self) -> str:
        """The id the platform itself uses (without the namespace)."""
        return self.id.split(":", 1)[1] if ":" in self.id else self.id

    @property
    def display(self) -> str:
        return self.name or self.native_id


@dataclass(frozen=True, slots=True)
class Mention:
    """A user @-mentioned in a message; ``token`` is the exact text standing for them."""

    user: User
    token: str


@dataclass(frozen=True, slots=True)
class Button:
    """A typed button payload: an action on one risk of the chat it was posted in, or
    (action ``risk``, number 0) the ``/risk …`` line a suggestion offers to log in one tap, or
    (action ``survey``) one score of a survey question: the number is ``survey × 100 + question
    × 10 + score`` (see :meth:`survey_code`), so a stale card cannot answer a later survey."""

    action: ButtonAction
    risk_number: int
    label: str = ""
    text: str = ""  # the /risk line of a "risk" button

    def __post_init__(self) -> None:
        if self.action not in BUTTON_ACTIONS:
            raise ValueError(f"unknown button action {self.action!r}")
        if self.action == "risk":
            if self.risk_number != 0 or len(self.text) > RISK_LINE_MAX:
                raise ValueError("a risk button carries a /risk line, no number")
            if self.text and not self.text.startswith("/risk "):
                raise ValueError("a risk button carries a /risk line")
        elif not 0 < self.risk_number < 10**9:
            raise ValueError("risk number out of range")
        if self.action == "survey":
            _survey, question, score = self.survey_parts
            if not (1 <= question <= 9 and 1 <= score <= 9):
                raise ValueError("a survey button names a question and a score")

    @staticmethod
    def survey_code(survey: int, question: int, score: int) -> int:
        return survey * 100 + question * 10 + score

    @property
    def survey_parts(self) -> tuple[int, int, int]:
        """(survey number, question, score) of a ``survey`` button."""
        return self.risk_number // 100, self.risk_number // 10 % 10, self.risk_number % 10

    @property
    def row(self) -> int:
        """Cards lay out one row of buttons per question of a survey, one row otherwise."""
        return self.risk_number // 10 if self.action == "survey" else 0

    @property
    def command(self) -> str:
        """The text command a click stands for; clicking is typing this."""
        if self.action == "risk":
            return self.text
        if self.action == "survey":
            survey, question, score = self.survey_parts
            return f"/survey answer S{survey} q{question}={score}"
        suffix = " 1h" if self.action == "snooze" else ""
        return f"/{self.action} #{self.risk_number}{suffix}"

    def to_value(self) -> dict[str, Any]:
        if self.action == "risk":
            return {"hubao": self.action, "text": self.text}
        return {"hubao": self.action, "risk": self.risk_number}

    @classmethod
    def from_value(cls, value: Any) -> Button:
        """Decode a click payload; raises ValueError for anything not made by :meth:`to_value`."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError("button value is not JSON") from exc
        if not isinstance(value, Mapping):
            raise ValueError("button value is not an object")
        action, risk = value.get("hubao"), value.get("risk")
        if action == "risk":
            text = value.get("text")
            if not isinstance(text, str) or not text:
                raise ValueError("risk button value lacks its /risk line")
            return cls(action="risk", risk_number=0, text=text)
        if not isinstance(action, str) or isinstance(risk, bool) or not isinstance(risk, int):
            raise ValueError("button value lacks action or risk")
        return cls(action=action, risk_number=risk)


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """Something a person did in a chat: a message, or a button click (``button`` set); or,
    with ``kind`` ``joined``, the bot being added to the chat (``sender``: who added it)."""

    platform: str
    chat_id: str
    sender: User
    text: str
    message_id: str
    time: datetime
    mentions: tuple[Mention, ...] = ()
    mentions_all: bool = False
    button: Button | None = None
    # The message @-mentions the bot (its mention already taken out of ``text``) or was sent
    # in a direct chat with it: someone is talking to the bot, not just near it.
    addressed: bool = False
    kind: str = "message"  # or "joined" (EVENT_KINDS)
    # Adapter-private handle for answering this event (session webhook, response_url,
    # message id to reply in thread, card token...). Opaque to everyone else.
    reply_handle: Mapping[str, str] = field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        return f"{self.platform}:{self.message_id}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready copy, kept in the inbox row until the event is processed."""
        data: dict[str, Any] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name == "sender":
                value = [value.id, value.name]
            elif spec.name == "time":
                value = value.isoformat()
            elif spec.name == "mentions":
                value = [[m.user.id, m.user.name, m.token] for m in value]
            elif spec.name == "button":
                value = None if value is None else {**value.to_value(), "label": value.label}
            elif spec.name == "reply_handle":
                value = dict(value)
            data[spec.name] = value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InboundEvent:
        values = dict(data)
        sender_id, sender_name = values["sender"]
        values["sender"] = User(sender_id, sender_name)
        values["time"] = datetime.fromisoformat(values["time"])
        values["mentions"] = tuple(Mention(User(i, n), token) for i, n, token in values.get("mentions", ()))
        button = values.get("button")
        values["button"] = None if button is None else replace(Button.from_value(button), label=button["label"])
        values["reply_handle"] = dict(values.get("reply_handle", {}))
        known = {spec.name for spec in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


class Format(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"


class Lane(IntEnum):
    """Delivery priority; lower goes first."""

    URGENT = 0  # escalations and /urgent
    REPLY = 1
    DIGEST = 2


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """What the bot says. Adapters render it; mentions are pings, not decoration."""

    platform: str
    chat_id: str
    text: str
    title: str = ""
    format: Format = Format.TEXT
    mentions: tuple[User, ...] = ()
    mention_all: bool = False
    buttons: tuple[Button, ...] = ()
    lane: Lane = Lane.REPLY
    reply_handle: Mapping[str, str] = field(default_factory=dict)
    # Set on the answer to a button click: replace the clicked card, show ``toast``.
    updates_card: bool = False
    toast: str = ""
    # Set by the delivery worker to the outbox key just before sending (never stored): the same
    # message retried carries the same key, for platforms that de-duplicate sends (Feishu uuid).
    idempotency_key: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "chat_id": self.chat_id,
            "text": self.text,
            "title": self.title,
            "format": self.format.value,
            "mentions": [[u.id, u.name] for u in self.mentions],
            "mention_all": self.mention_all,
            "buttons": [[b.action, b.risk_number, b.label, b.text] for b in self.buttons],
            "lane": int(self.lane),
            "reply_handle": dict(self.reply_handle),
            "updates_card": self.updates_card,
            "toast": self.toast,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OutboundMessage:
        return cls(
            platform=data["platform"],
            chat_id=data["chat_id"],
            text=data["text"],
            title=data.get("title", ""),
            format=Format(data.get("format", "text")),
            mentions=tuple(User(i, n) for i, n in data.get("mentions", [])),
            mention_all=bool(data.get("mention_all", False)),
            buttons=tuple(Button(*parts[:4]) for parts in data.get("buttons", [])),
            lane=Lane(data.get("lane", Lane.REPLY)),
            reply_handle=dict(data.get("reply_handle", {})),
            updates_card=bool(data.get("updates_card", False)),
            toast=data.get("toast", ""),
        )

    def with_text(self, text: str) -> OutboundMessage:
        return replace(self, text=text)

    def without_buttons(self, action: ButtonAction) -> OutboundMessage:
        """This message minus its buttons of ``action`` (for a platform that cannot show them)."""
        if not any(b.action == action for b in self.buttons):
            return self
        return replace(self, buttons=tuple(b for b in self.buttons if b.action != action))
