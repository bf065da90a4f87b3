"""Text from people and machines, made safe to store and to show in a chat card.

Everything a person or a monitoring system types ends up in a message the bot posts, so
stored text must not be able to ping everyone, forge markup, or break the card layout:

- control, format and surrogate characters are removed (NUL, bidi overrides, zero-width
  characters, lone surrogates) — they also upset PostgreSQL and terminals;
- ``@all`` / ``@所有人`` / ``@everyone`` / ``@here`` lose their power (``@ all``);
- markup that platforms interpret is defanged: a ``<`` that opens a tag (``<at …>``,
  ``<@uid>``, ``<font>``, ``<a href>``) becomes ``＜`` and a markdown link ``[x](url)`` is
  broken apart (``[x] (url)``).

Each function is idempotent: cleaning clean text changes nothing. Adapters still escape
what they render; this is the first of two fences.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace

from hubao.bot.events import InboundEvent, Mention, User

_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_KEEP = frozenset("\n\t")
_MENTION_ALL = re.compile(r"[@＠]\s*(all|everyone|here|channel|所有人|全体成员|全体)", re.IGNORECASE)
_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?@#])")
_MD_LINK = re.compile(r"\]\s*\(")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
MAX_NAME = 64


def strip_controls(text: str, *, keep_newlines: bool = False) -> str:
    """Drop control, format (zero-width, bidi) and surrogate characters; line breaks become spaces."""
    if text.isascii() and text.isprintable():
        return text
    out: list[str] = []
    for char in text:
        if unicodedata.category(char) in _DROP_CATEGORIES:
            if keep_newlines and char in _KEEP:
                out.append(char)
            elif char in "\n\t\r\v\f\x1c\x1d\x1e\x1f\x85":
                out.append(" ")
            continue
        out.append(char)
    return "".join(out)


def neutralise(text: str) -> str:
    """Take the power out of @all and of markup a platform would interpret."""
    text = _MENTION_ALL.sub(lambda m: "@ " + m.group(1), text)
    text = _TAG_OPEN.sub("＜", text)
    return _MD_LINK.sub("] (", text)


def clean_line(text: str, max_len: int | None = None) -> str:
    """One line of user text for storage and display: cleaned, neutralised, spaces collapsed."""
    text = neutralise(strip_controls(text))
    text = _SPACES.sub(" ", text).strip()
    if max_len is not None and len(text) > max_len:
        text = text[:max_len].rstrip()
    return text


def clean_token(token: str) -> str:
    """A command token without invisible characters (mentions and numbers keep working)."""
    return strip_controls(token).strip()


def clean_word(token: str) -> str:
    """A free-text word of a command, ready to be stored."""
    return neutralise(clean_token(token))


def clean_name(name: str) -> str:
    """A display name as platforms report it; shown in cards, so it gets the same fence."""
    return clean_line(name, MAX_NAME)


def clean_event(event: InboundEvent) -> InboundEvent:
    """The event with display names cleaned; the text is cleaned token by token by the parser."""
    sender = _clean_user(event.sender)
    mentions = tuple(Mention(_clean_user(m.user), m.token) for m in event.mentions)
    if sender == event.sender and mentions == event.mentions:
        return event
    return replace(event, sender=sender, mentions=mentions)


def _clean_user(user: User) -> User:
    name = clean_name(user.name)
    return user if name == user.name else User(user.id, name)
