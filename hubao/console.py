"""Drives a bot through the console adapter: for people in a terminal and for tests.

Part of the composition root (it wires the console adapter to an :class:`App`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hubao.adapters.console import CHAT_ID, PLATFORM, ConsoleAdapter, Said, console_user, parse_line
from hubao.app import App
from hubao.bot.clock import ManualClock
from hubao.bot.config import Config
from hubao.bot.timeparse import parse_duration

DEMO_GROUP = "互保演示组"


@dataclass
class ConsoleSession:
    app: App
    adapter: ConsoleAdapter
    clock: ManualClock
    printed: list[str] = field(default_factory=list)
    _leader_set: bool = False

    @classmethod
    async def open(cls, config: Config, clock: ManualClock | None = None) -> ConsoleSession:
        clock = clock or ManualClock()
        printed: list[str] = []
        adapter = ConsoleAdapter(printed.append)
        app = App(config, clock=clock, adapters={PLATFORM: adapter}, instance_id="console")
        await app.start()
        await app.register_group(PLATFORM, CHAT_ID, DEMO_GROUP)
        return cls(app=app, adapter=adapter, clock=clock, printed=printed)

    async def close(self) -> None:
        await self.app.close()

    async def feed(self, line: str) -> list[str]:
        """One input line; returns the blocks the bot printed in answer."""
        start = len(self.printed)
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            return []
        if stripped.startswith(":"):
            await self._directive(stripped)
        else:
            said = parse_line(stripped)
            if said is None:
                self.printed.append("console: write lines as NAME: message, or :advance 61m")
            else:
                await self._say(said.speaker, said.text)
        return self.printed[start:]

    async def say(self, speaker: str, text: str, *, chat: str = CHAT_ID) -> list[str]:
        """``speaker`` says ``text``; ``chat`` picks another console chat (tests of cross-group rules)."""
        if chat == CHAT_ID:
            return await self.feed(f"{speaker}: {text}")
        start = len(self.printed)
        await self.app.dispatch(self.adapter.event(Said(speaker, text), self.clock.now(), chat))
        await self.app.deliver()
        return self.printed[start:]

    async def advance(self, duration: str) -> list[str]:
        return await self.feed(f":advance {duration}")

    async def _say(self, speaker: str, text: str) -> None:
        if not self._leader_set:
            group = await self.app.register_group(PLATFORM, CHAT_ID, DEMO_GROUP)
            await self.app.set_leader(group, console_user(speaker))
            self._leader_set = True
        event = self.adapter.event(Said(speaker, text), self.clock.now())
        await self.app.dispatch(event)
        await self.app.deliver()

    async def _directive(self, line: str) -> None:
        parts = line.split(maxsplit=1)
        if parts[0] not in (":advance", ":now"):
            self.printed.append(f"console: unknown directive {parts[0]} (try :advance 61m or :now)")
        elif parts[0] == ":now":
            self.printed.append(f"console: now {self.clock.now().isoformat(timespec='minutes')}")
        elif parts[0] == ":advance":
            try:
                delta = parse_duration(parts[1] if len(parts) > 1 else "")
            except ValueError:
                self.printed.append("console: :advance needs a duration such as 61m, 2h or 1d")
                return
            await self.app.advance(delta)
