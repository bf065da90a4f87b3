"""Small helpers for the reporting scenario tests: expected console blocks and stored rows."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from hubao.bot.console import ConsoleSession


def block(*lines: str) -> str:
    """A message as the console prints it: ``bot:`` first, later lines indented (blank ones too)."""
    return "bot: " + "\n".join([lines[0], *(f"  {line}" for line in lines[1:])])


async def rows(console: ConsoleSession, model: Any) -> list[Any]:
    async with console.app.db.transaction() as session:
        return list((await session.exec(select(model))).all())
