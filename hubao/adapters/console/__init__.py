"""The console adapter: try the bot in a terminal, no platform account needed.

Input lines are ``NAME: message`` (NAME is the speaker). Each bot message prints as a
block whose first line starts with ``bot:``; mentions print as ``@NAME``, @all as ``@all``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import count

from hubao.bot.adapter import Adapter, SendLimit
from hubao.bot.config import Section
from hubao.bot.events import InboundEvent, Mention, OutboundMessage, User

PLATFORM = "console"
CHAT_ID = "demo"
ALL_WORDS = ("all", "所有人", "everyone")
BOT_WORDS = ("bot", "hubao", "互保助手", "机器人")  # "@bot …" talks to the bot, as an @-mention does
_LINE = re.compile(r"^\s*([^:：\s][^:：]{0,31})\s*[:：]\s?(.*)$")
_MENTION = re.compile(r"[@＠]([^\s@＠:：,，。]+)")


class Settings(Section):
    """The console has nothing to configure; the section exists so the key is known."""

    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Said:
    speaker: str
    text: str


def parse_line(line: str) -> Said | None:
    """``alice: /risk …`` → Said('alice', '/risk …'); None for a line that is not speech."""
    match = _LINE.match(line)
    if not match:
        return None
    return Said(match.group(1).strip(), match.group(2).strip())


def console_user(name: str) -> User:
    return User(f"{PLATFORM}:{name}", name)


class ConsoleAdapter(Adapter):
    platform = PLATFORM
    send_limit = SendLimit(1000, 1.0)
    max_text_bytes = 1 << 20

    def channel_limit(self, chat_id: str, channel: str) -> SendLimit | None:
        """A terminal has no rate: every message goes at once, in order."""
        return None

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write
        self._ids = count(1)

    def event(self, said: Said, now: datetime, chat_id: str = CHAT_ID) -> InboundEvent:
        mentions: list[Mention] = []
        mentions_all = False
        addressed = False
        text = said.text
        for match in _MENTION.finditer(said.text):
            name = match.group(1)
            if name.lower() in ALL_WORDS:
                mentions_all = True
            elif name.lower() in BOT_WORDS:
                addressed = True  # and, as the platforms do, the bot's own mention leaves the text
                text = text.replace(match.group(0), " ", 1)
            else:
                mentions.append(Mention(console_user(name), match.group(0)))
        return InboundEvent(
            platform=PLATFORM,
            chat_id=chat_id,
            sender=console_user(said.speaker),
            text=text.strip() if addressed else text,
            addressed=addressed,
            message_id=f"console-{next(self._ids)}-{now.timestamp():.0f}",
            time=now,
            mentions=tuple(mentions),
            mentions_all=mentions_all,
        )

    async def send(self, message: OutboundMessage) -> None:
        self._write(render_block(message))


def render_block(message: OutboundMessage) -> str:
    """A message as the console prints it: ``bot:`` first, later lines indented."""
    pings = (["@all"] if message.mention_all else []) + [f"@{u.display}" for u in message.mentions]
    lines = message.text.split("\n")
    if message.title:
        lines.insert(0, message.title)
    first = " ".join([*pings, lines[0]])
    out = [f"bot: {first}".rstrip()]
    out.extend(f"  {line}" for line in lines[1:])
    if message.buttons:
        out.append("  " + "  ".join(f"[{b.label or b.action} {b.command}]" for b in message.buttons))
    return "\n".join(out)
