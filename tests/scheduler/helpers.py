"""Set-up shared by the scheduler scenarios: a console group with a leader, a pair and an admin."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from hubao.adapters.console import CHAT_ID, PLATFORM
from hubao.console import ConsoleSession
from hubao.storage import repo
from hubao.storage.models import Group, Member, Outbox, Risk, RiskEvent


async def team(make_console: Any, **overrides: Any) -> ConsoleSession:
    """lead (leader), bob and carol (partners), root (admin, not in the group); English replies."""
    console: ConsoleSession = await make_console(admins=("root",), **{"bot.locale": "en", **overrides})
    for name in ("lead", "bob", "carol"):
        await console.say(name, "hello")
    await pair(console, "bob", "carol")
    return console


async def pair(console: ConsoleSession, a: str, b: str) -> None:
    async with console.app.db.transaction() as session:
        group = await repo.get_group(session, PLATFORM, CHAT_ID)
        assert group is not None
        for one, other in ((a, b), (b, a)):
            member = await repo.get_member(session, group.id or 0, f"console:{one}")
            assert member is not None
            member.partner_id = f"console:{other}"
            session.add(member)


async def set_group(console: ConsoleSession, **fields: Any) -> None:
    async with console.app.db.transaction() as session:
        group = await repo.get_group(session, PLATFORM, CHAT_ID)
        assert group is not None
        for name, value in fields.items():
            setattr(group, name, value)
        session.add(group)


def pings(blocks: list[str]) -> list[str]:
    """Only the escalation pings among printed blocks (not replies or the weekly board)."""
    return [b for b in blocks if "⏰ " in first_line(b) or "⚠️ " in first_line(b)]


def first_line(block: str) -> str:
    return block.split("\n", 1)[0]


async def outbox_keys(console: ConsoleSession, prefix: str = "esc:") -> list[str]:
    async with console.app.db.transaction() as session:
        stmt = select(Outbox.key).where(col(Outbox.key).startswith(prefix)).order_by(col(Outbox.id))
        return list((await session.exec(stmt)).all())


async def outbox_rows(console: ConsoleSession, prefix: str = "esc:") -> list[Outbox]:
    async with console.app.db.transaction() as session:
        stmt = select(Outbox).where(col(Outbox.key).startswith(prefix)).order_by(col(Outbox.id))
        return list((await session.exec(stmt)).all())


async def escalations(console: ConsoleSession, number: int = 1) -> list[dict[str, Any]]:
    async with console.app.db.transaction() as session:
        group = await repo.get_group(session, PLATFORM, CHAT_ID)
        assert group is not None
        risk = await repo.get_risk(session, group.id or 0, number)
        assert risk is not None
        stmt = select(RiskEvent).where(RiskEvent.risk_id == risk.id, RiskEvent.kind == "escalated")
        return [e.data for e in (await session.exec(stmt.order_by(col(RiskEvent.id)))).all()]


async def risk_row(console: ConsoleSession, number: int = 1) -> Risk:
    async with console.app.db.transaction() as session:
        group = await repo.get_group(session, PLATFORM, CHAT_ID)
        assert group is not None
        risk = await repo.get_risk(session, group.id or 0, number)
        assert risk is not None
        return risk


async def the_group(console: ConsoleSession) -> Group:
    async with console.app.db.transaction() as session:
        group = await repo.get_group(session, PLATFORM, CHAT_ID)
        assert group is not None
        return group


__all__ = ["Member", "escalations", "first_line", "outbox_keys", "pair", "pings", "set_group", "team"]
