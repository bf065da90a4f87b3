"""Every admin change leaves an ``admin.*`` event in the log: who, when, what — never a secret."""

from __future__ import annotations

import json

from sqlmodel import col, select

from hubao.console import ConsoleSession
from hubao.storage.models import RiskEvent


async def _admin_events(console: ConsoleSession) -> list[tuple[str, str, dict[str, object]]]:
    async with console.app.db.transaction() as session:
        stmt = select(RiskEvent).where(col(RiskEvent.kind).startswith("admin.")).order_by(col(RiskEvent.id))
        return [(e.kind, e.actor_id, dict(e.data or {})) for e in (await session.exec(stmt)).all()]


async def test_member_and_policy_changes_are_audited(console: ConsoleSession) -> None:
    for name in ("alice", "bob", "erin"):
        await console.say(name, "在")
    (removed,) = await console.say("root", "/admin member remove @erin")
    assert "erin" in removed
    (added,) = await console.say("alice", "/admin member add @erin")
    assert "erin" in added
    (policy,) = await console.say("root", "/admin policy high respond=30m")
    assert "30" in policy
    assert await console.say("alice", "/admin member add @bob") == ["bot: 成员没有变化。"]  # nothing to audit
    events = await _admin_events(console)
    assert [e for e in events if e[0].startswith(("admin.member", "admin.policy"))] == [
        ("admin.member.remove", "console:root", {"users": ["console:erin"]}),
        ("admin.member.add", "console:alice", {"users": ["console:erin"]}),
        ("admin.policy", "console:root", {"levels": ["high"], "respond": 1800}),  # seconds
    ]


async def test_a_download_link_is_audited_without_its_token(make_console: object) -> None:
    console: ConsoleSession = await make_console(  # type: ignore[operator]
        admins=("root",), **{"export.secret": "export-signing-key", "server.public_url": "https://bot.example.com"}
    )
    await console.say("alice", "在")
    (reply,) = await console.say("root", "/admin export 2026-11-01 2026-11-22 csv")
    assert "/export/" in reply, reply
    token = reply.split("/export/")[1].split()[0].rstrip("，。")
    events = await _admin_events(console)
    assert events[-1] == (
        "admin.export",
        "console:root",
        {"first": "2026-11-01", "last": "2026-11-22", "format": "csv", "expires": "2026-11-24T01:00:00+00:00"},
    )
    assert token and token not in json.dumps(events) and token.split(".")[1] not in json.dumps(events)
