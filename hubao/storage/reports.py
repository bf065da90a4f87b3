"""Queries behind the reports: the risks and event histories a period's figures need,
meetings and incidents. Plain functions over an AsyncSession."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.storage.models import Group, Incident, IncidentEntry, Meeting, MeetingItem, Risk, RiskEvent

IN_CHUNK = 500


def _relevant(group_ids: Sequence[int], since: datetime, until: datetime) -> list[Any]:
    """Risks whose history can matter to ``[since, until)``: created before its end and either
    not resolved or last resolved at or after its start (a risk resolved before ``since`` and never
    reopened has no resolution, ack or open state inside the window)."""
    return [
        col(Risk.group_id).in_(group_ids),
        col(Risk.created_at) < until,
        or_(col(Risk.status) != "resolved", col(Risk.resolved_at) >= since),
    ]


# What the figures need; the summary loads only these columns (no ORM objects), which is several
# times faster for a busy week. The export asks for whole rows.
RISK_COLUMNS = (Risk.id, Risk.group_id, Risk.number, Risk.content, Risk.level, Risk.reporter_id, Risk.owner_id,
                Risk.created_at, Risk.resolve_by)  # fmt: skip
EVENT_COLUMNS = (RiskEvent.id, RiskEvent.group_id, RiskEvent.risk_id, RiskEvent.at, RiskEvent.actor_id,
                 RiskEvent.kind, RiskEvent.data)  # fmt: skip


async def load_history(
    session: AsyncSession, group_ids: Sequence[int], since: datetime, until: datetime, *, whole_rows: bool = False
) -> tuple[dict[int, list[Any]], dict[int, list[Any]]]:
    """Per group: the risks relevant to ``[since, until)`` and all their events before ``until``.

    Rows carry the attributes of :class:`Risk` / :class:`RiskEvent` that the metrics read (all of
    them with ``whole_rows``, as ORM objects).
    """
    risks: dict[int, list[Any]] = {gid: [] for gid in group_ids}
    events: dict[int, list[Any]] = defaultdict(list)
    risk_cols: Any = (Risk,) if whole_rows else RISK_COLUMNS
    event_cols: Any = (RiskEvent,) if whole_rows else EVENT_COLUMNS
    for i in range(0, len(group_ids), IN_CHUNK):
        chunk = list(group_ids[i : i + IN_CHUNK])
        where = _relevant(chunk, since, until)
        for risk in (await session.exec(select(*risk_cols).where(*where))).all():
            risks[risk.group_id].append(risk)
        stmt = (
            select(*event_cols)
            .join(Risk, col(Risk.id) == col(RiskEvent.risk_id))
            .where(*where, col(RiskEvent.at) < until)
        )
        for event in (await session.exec(stmt)).all():
            events[event.group_id].append(event)
    return risks, dict(events)


async def find_group(session: AsyncSession, ref: str) -> Group | None:
    """A group by id, ``platform:chat_id`` or exact name (for the command line)."""
    if ref.isdigit():
        return await session.get(Group, int(ref))
    platform, _, chat = ref.partition(":")
    if chat:
        row = (await session.exec(select(Group).where(Group.platform == platform, Group.chat_id == chat))).first()
        if row is not None:
            return row
    return (await session.exec(select(Group).where(Group.name == ref))).first()


async def all_group_ids(session: AsyncSession) -> list[int]:
    return [gid for gid in (await session.exec(select(Group.id).order_by(col(Group.id)))).all() if gid is not None]


# --- meetings ---------------------------------------------------------------------------
async def open_meeting(session: AsyncSession, group_id: int, *, for_update: bool = False) -> Meeting | None:
    stmt = select(Meeting).where(Meeting.open_slot == group_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.exec(stmt)).first()


async def meeting_items(session: AsyncSession, meeting_id: int) -> list[MeetingItem]:
    stmt = select(MeetingItem).where(MeetingItem.meeting_id == meeting_id).order_by(col(MeetingItem.id))
    return list((await session.exec(stmt)).all())


async def risks_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Risk]:
    if not ids:
        return {}
    rows = (await session.exec(select(Risk).where(col(Risk.id).in_(list(ids))))).all()
    return {row.id: row for row in rows if row.id is not None}


# --- incidents --------------------------------------------------------------------------
async def open_incident(session: AsyncSession, group_id: int, *, for_update: bool = False) -> Incident | None:
    stmt = select(Incident).where(Incident.open_slot == group_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.exec(stmt)).first()


async def incident_entries(session: AsyncSession, incident_id: int) -> list[IncidentEntry]:
    stmt = (
        select(IncidentEntry)
        .where(IncidentEntry.incident_id == incident_id)
        .order_by(col(IncidentEntry.at), col(IncidentEntry.id))
    )
    return list((await session.exec(stmt)).all())


async def last_update_at(session: AsyncSession, incident_id: int) -> datetime | None:
    stmt = (
        select(IncidentEntry.at)
        .where(IncidentEntry.incident_id == incident_id, col(IncidentEntry.kind).in_(("started", "update")))
        .order_by(col(IncidentEntry.at).desc())
        .limit(1)
    )
    return (await session.exec(stmt)).first()
