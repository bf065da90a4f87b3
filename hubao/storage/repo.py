"""Queries used by handlers and the scheduler. Plain functions over an AsyncSession."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.storage import records
from hubao.storage.models import Group, Member, Risk, RiskEvent, SeenDelivery
from hubao.storage.tx import Tx


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT that can ``on_conflict_do_nothing`` on either backend."""
    return (postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert)(table)


# Built once and run with parameters: building a statement costs more than SQLite takes to run it.
_GROUP_BY_CHAT = select(Group).where(Group.platform == bindparam("platform"), Group.chat_id == bindparam("chat_id"))
_ROSTER = select(Member).where(Member.group_id == bindparam("group_id")).order_by(col(Member.id))
_RISK = select(Risk).where(Risk.group_id == bindparam("group_id"), Risk.number == bindparam("number"))
_RISK_FOR_UPDATE = _RISK.with_for_update()


async def forget_deliveries_before(session: AsyncSession, cutoff: datetime) -> int:
    from sqlalchemy import delete

    old = (col(SeenDelivery.seen_at) < cutoff) & (col(SeenDelivery.state) == "done")  # pending rows wait to be done
    result = await session.exec(delete(SeenDelivery).where(old))  # type: ignore[call-overload]
    return int(result.rowcount or 0)


async def get_group(session: AsyncSession, platform: str, chat_id: str) -> Group | None:
    return (await session.exec(_GROUP_BY_CHAT, params={"platform": platform, "chat_id": chat_id})).first()


async def get_group_by_id(session: AsyncSession, group_id: int) -> Group | None:
    return await session.get(Group, group_id)


async def create_group(
    session: AsyncSession, *, platform: str, chat_id: str, name: str, now: datetime, leader_id: str | None = None
) -> Group:
    group = Group(platform=platform, chat_id=chat_id, name=name, leader_id=leader_id, created_at=now)
    session.add(group)
    await session.flush()
    return group


def _rosters(session: AsyncSession) -> dict[int, dict[str, Member]]:
    """Groups' member rows loaded in this transaction, by group id then user id.

    A command looks members up several times (enrolment, roles, partner, names); one query per
    group and transaction serves them all. Rows are the session's own objects, so changes made
    through the session are seen; the cache ends with the session.
    """
    return session.sync_session.info.setdefault("hubao.rosters", {})


async def _roster(session: AsyncSession, group_id: int) -> dict[str, Member]:
    rosters = _rosters(session)
    roster = rosters.get(group_id)
    if roster is None:
        roster = {m.user_id: m for m in (await session.exec(_ROSTER, params={"group_id": group_id})).all()}
        rosters[group_id] = roster
    return roster


async def members(session: AsyncSession, group_id: int, *, active_only: bool = True) -> list[Member]:
    roster = await _roster(session, group_id)
    return [m for m in roster.values() if m.active or not active_only]


async def get_member(session: AsyncSession, group_id: int, user_id: str) -> Member | None:
    return (await _roster(session, group_id)).get(user_id)


async def upsert_member(
    session: AsyncSession, group_id: int, user_id: str, name: str, now: datetime, *, reactivate: bool = False
) -> tuple[Member, bool]:
    """The member row for ``user_id``; the flag says whether it was created now."""
    member = await get_member(session, group_id, user_id)
    if member is None:
        member = Member(group_id=group_id, user_id=user_id, name=name, joined_at=now)
        session.add(member)
        await session.flush()
        (await _roster(session, group_id))[user_id] = member
        return member, True
    if name and member.name != name:
        member.name = name
        session.add(member)
    if reactivate and not member.active:
        member.active = True
        session.add(member)
    return member, False


async def get_risk(session: AsyncSession, group_id: int, number: int, *, for_update: bool = False) -> Risk | None:
    stmt = _RISK_FOR_UPDATE if for_update else _RISK
    return (await session.exec(stmt, params={"group_id": group_id, "number": number})).first()


async def add_event(
    session: AsyncSession,
    *,
    group_id: int,
    risk_id: int | None,
    actor_id: str,
    kind: str,
    at: datetime,
    data: dict[str, Any] | None = None,
    message_id: str | None = None,
) -> None:
    """Append to the audit trail, in the session's transaction."""
    await records.add_event(
        await Tx.over(session), group_id=group_id, risk_id=risk_id, actor_id=actor_id, kind=kind, at=at, data=data,
        message_id=message_id,
    )  # fmt: skip


async def risk_events(session: AsyncSession, risk_id: int) -> list[RiskEvent]:
    stmt = select(RiskEvent).where(RiskEvent.risk_id == risk_id).order_by(col(RiskEvent.at), col(RiskEvent.id))
    return list((await session.exec(stmt)).all())


async def enqueue(
    session: AsyncSession,
    items: Iterable[tuple[str, dict[str, Any], int]],
    *,
    now: datetime,
    not_before: datetime | None = None,
) -> int:
    """Queue messages as (idempotency key, payload, lane); a key already queued is skipped."""
    return await records.enqueue(await Tx.over(session), items, now=now, not_before=not_before)
