"""Queries behind the web board: read-only views of one group (or, for the organisation page,
of every group), plus the link generations that revoke web links. Plain SQL on a :class:`Tx`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.storage.models import Group
from hubao.storage.records import _RISK_COLUMNS, OPEN_STATES, RiskRow
from hubao.storage.tx import Tx


def group_scope(group_id: int) -> str:
    return f"group:{group_id}"


ORG_SCOPE = "org"


# -- link generations ---------------------------------------------------------------------------


async def generation(tx: Tx, scope: str) -> int:
    """The scope's current link generation (0 until its links were first revoked)."""
    row = await tx.fetchrow("SELECT generation FROM web_access WHERE scope = ?", scope)
    return int(row[0]) if row is not None else 0


async def revoke(tx: Tx, scope: str, actor: str, now: datetime) -> int:
    """Invalidate every link and session of ``scope``; returns the new generation."""
    row = await tx.fetchrow(
        "INSERT INTO web_access (scope, generation, changed_at, changed_by) VALUES (?, 1, ?, ?) "
        "ON CONFLICT (scope) DO UPDATE SET generation = web_access.generation + 1, "
        "changed_at = excluded.changed_at, changed_by = excluded.changed_by RETURNING generation",
        scope, tx.when(now), actor,
    )  # fmt: skip
    assert row is not None
    return int(row[0])


# -- one group ----------------------------------------------------------------------------------


@dataclass(slots=True)
class GroupInfo:
    id: int
    name: str
    platform: str
    locale: str | None
    timezone: str | None


async def group_info(tx: Tx, group_id: int) -> GroupInfo | None:
    row = await tx.fetchrow("SELECT id, name, platform, locale, timezone FROM groups WHERE id = ?", group_id)
    return GroupInfo(*row) if row is not None else None


async def member_names(tx: Tx, group_id: int) -> dict[str, str]:
    """Display names by user id (former members too), in joining order."""
    rows = await tx.fetch("SELECT user_id, name FROM members WHERE group_id = ? ORDER BY id", group_id)
    return {user_id: name for user_id, name in rows}


def _open(statuses: Sequence[str] = OPEN_STATES) -> str:
    return f"status IN ({', '.join(repr(s) for s in statuses)})"


async def open_risks(tx: Tx, group_id: int) -> list[RiskRow]:
    """The group's open risks, oldest first."""
    sql = f"SELECT {_RISK_COLUMNS} FROM risks WHERE group_id = ? AND {_open()} ORDER BY created_at, number"
    return [RiskRow.of(tx, row) for row in await tx.fetch(sql, group_id)]


async def resolved_since(tx: Tx, group_id: int, since: datetime) -> list[RiskRow]:
    """Risks of the group resolved at or after ``since``, latest first."""
    sql = (
        f"SELECT {_RISK_COLUMNS} FROM risks WHERE group_id = ? AND status = 'resolved' AND resolved_at >= ? "
        "ORDER BY resolved_at DESC, number"
    )
    return [RiskRow.of(tx, row) for row in await tx.fetch(sql, group_id, tx.when(since))]


@dataclass(slots=True)
class WebEvent:
    at: datetime
    actor_id: str
    kind: str
    data: dict[str, Any]


async def risk_events(tx: Tx, group_id: int, risk_id: int) -> list[WebEvent]:
    """The risk's whole timeline, oldest first (the group is checked again: belt and braces)."""
    sql = "SELECT group_id, at, actor_id, kind, data FROM risk_events WHERE risk_id = ? ORDER BY at, id"
    return [
        WebEvent(tx.moment(at), actor, kind, tx.json_value(data) or {})  # type: ignore[arg-type]
        for gid, at, actor, kind, data in await tx.fetch(sql, risk_id)
        if gid == group_id
    ]


async def heat_counts(tx: Tx, group_id: int) -> dict[tuple[int, int], int]:
    """Open assessed risks per (likelihood, impact)."""
    sql = (
        f"SELECT likelihood, impact, count(*) FROM risks WHERE group_id = ? AND {_open()} "
        "AND likelihood IS NOT NULL AND impact IS NOT NULL GROUP BY likelihood, impact"
    )
    return {(int(li), int(im)): int(n) for li, im, n in await tx.fetch(sql, group_id)}


async def risks_in_cell(tx: Tx, group_id: int, likelihood: int, impact: int) -> list[RiskRow]:
    sql = (
        f"SELECT {_RISK_COLUMNS} FROM risks WHERE group_id = ? AND {_open()} AND likelihood = ? AND impact = ? "
        "ORDER BY number"
    )
    return [RiskRow.of(tx, row) for row in await tx.fetch(sql, group_id, likelihood, impact)]


async def open_tags_and_levels(tx: Tx, group_id: int) -> list[tuple[list[str], str]]:
    sql = f"SELECT tags, level FROM risks WHERE group_id = ? AND {_open()}"
    return [(tx.json_value(tags) or [], level) for tags, level in await tx.fetch(sql, group_id)]


async def missed_deadlines(
    tx: Tx, since: datetime, until: datetime, group_id: int | None = None
) -> list[tuple[int, str, datetime]]:
    """(group, owner, resolve-by) of every risk whose resolve-by time fell in ``[since, until)``
    and passed unresolved (still open, or resolved after it): the overdue risks of that time."""
    sql = (
        "SELECT group_id, owner_id, resolve_by FROM risks WHERE resolve_by >= ? AND resolve_by < ? "
        "AND (resolved_at IS NULL OR resolved_at > resolve_by)"
    )
    params: list[Any] = [tx.when(since), tx.when(until)]
    if group_id is not None:
        sql += " AND group_id = ?"
        params.append(group_id)
    return [(gid, owner, tx.moment(due)) for gid, owner, due in await tx.fetch(sql, *params)]  # type: ignore[misc]


# -- every group --------------------------------------------------------------------------------


@dataclass(slots=True)
class GroupLine:
    id: int
    name: str
    platform: str
    timezone: str | None
    open: int = 0
    overdue: int = 0
    last_activity: datetime | None = None


async def group_lines(tx: Tx, now: datetime) -> list[GroupLine]:
    """Every group with its open and overdue counts and the time of its last event."""
    lines = {
        gid: GroupLine(gid, name, platform, zone)
        for gid, name, platform, zone in await tx.fetch("SELECT id, name, platform, timezone FROM groups ORDER BY id")
    }
    counts = (
        "SELECT group_id, count(*), sum(CASE WHEN resolve_by < ? THEN 1 ELSE 0 END) FROM risks "
        f"WHERE {_open()} GROUP BY group_id"
    )
    for gid, open_count, overdue in await tx.fetch(counts, tx.when(now)):
        if gid in lines:
            lines[gid].open, lines[gid].overdue = int(open_count), int(overdue or 0)
    for gid, last in await tx.fetch("SELECT group_id, max(at) FROM risk_events GROUP BY group_id"):
        if gid in lines:
            lines[gid].last_activity = tx.moment(last)
    return list(lines.values())


async def group_by_chat_id(session: AsyncSession, chat_id: str) -> Group | None:
    """The group of a chat id on whichever platform (for the command line); None if none or several."""
    rows = (await session.exec(select(Group).where(Group.chat_id == chat_id).limit(2))).all()
    return rows[0] if len(rows) == 1 else None


# -- the organisation's rates -------------------------------------------------------------------


@dataclass(slots=True)
class HistoryRisk:
    """The attributes of a risk that :func:`hubao.handlers.metrics.compute` reads."""

    id: int
    group_id: int
    number: int
    content: str
    level: str
    reporter_id: str
    owner_id: str
    created_at: datetime
    resolve_by: datetime


@dataclass(slots=True)
class HistoryEvent:
    """The attributes of an event that :func:`hubao.handlers.metrics.compute` reads."""

    id: int
    group_id: int
    risk_id: int
    at: datetime
    actor_id: str
    kind: str
    data: dict[str, Any]


_RESOLVED_IN = "SELECT risk_id FROM risk_events WHERE kind = 'resolved' AND at >= ? AND at < ?"


async def resolved_history(
    tx: Tx, since: datetime, until: datetime
) -> tuple[dict[int, list[HistoryRisk]], dict[int, list[HistoryEvent]]]:
    """Per group: the risks resolved in ``[since, until)`` and all their events before ``until``.

    What the resolution figures (on-time rate, 协同解决率) of the period are computed from; the
    risks that were not resolved in it change none of them, so they are not loaded.
    """
    when, moment, value = tx.when, tx.moment, tx.json_value
    risks: dict[int, list[HistoryRisk]] = {}
    sql = (
        "SELECT id, group_id, number, content, level, reporter_id, owner_id, created_at, resolve_by FROM risks "
        f"WHERE id IN ({_RESOLVED_IN})"
    )
    for rid, gid, number, content, level, reporter, owner, created, resolve_by in await tx.fetch(
        sql, when(since), when(until)
    ):
        risks.setdefault(gid, []).append(
            HistoryRisk(rid, gid, number, content, level, reporter, owner, moment(created), moment(resolve_by))  # type: ignore[arg-type]
        )
    events: dict[int, list[HistoryEvent]] = {}
    sql = (
        "SELECT id, group_id, risk_id, at, actor_id, kind, data FROM risk_events "
        f"WHERE risk_id IN ({_RESOLVED_IN}) AND at < ?"
    )
    for eid, gid, rid, at, actor, kind, data in await tx.fetch(sql, when(since), when(until), when(until)):
        events.setdefault(gid, []).append(HistoryEvent(eid, gid, rid, moment(at), actor, kind, value(data) or {}))  # type: ignore[arg-type]
    return risks, events
