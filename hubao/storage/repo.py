"""Queries used by handlers and the scheduler. Plain functions over an AsyncSession."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.storage.models import BotAdmin, Group, Member, Outbox, Risk, RiskEvent, SeenDelivery

OPEN_STATES = ("open", "acknowledged")


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT that can ``on_conflict_do_nothing`` on either backend."""
    return (postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert)(table)


# Statements on the path of every command are built once and run with parameters: building a
# statement costs more than SQLite takes to run it.
_GROUP_BY_CHAT = select(Group).where(Group.platform == bindparam("platform"), Group.chat_id == bindparam("chat_id"))
_ROSTER = select(Member).where(Member.group_id == bindparam("group_id")).order_by(col(Member.id))
_ADMINS = select(BotAdmin.user_id)
_RISK = select(Risk).where(Risk.group_id == bindparam("group_id"), Risk.number == bindparam("number"))
_RISK_FOR_UPDATE = _RISK.with_for_update()
_NEXT_NUMBER = (
    update(Group)
    .where(col(Group.id) == bindparam("group"))
    .values(next_number=Group.next_number + 1)
    .returning(col(Group.next_number))
    .execution_options(synchronize_session=False)  # a Core-speed UPDATE; no ORM objects to refresh
)


@functools.cache
def _insert_ignoring_duplicates(dialect: str, table: Any, key: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=[key])


async def record_delivery(session: AsyncSession, key: str, now: datetime) -> bool:
    """Insert a delivery key; False when it was already there."""
    stmt = _insert_ignoring_duplicates(_dialect(session), SeenDelivery, "key")
    result = await (await session.connection()).execute(stmt, {"key": key, "seen_at": now})
    return bool(result.rowcount)


async def forget_deliveries_before(session: AsyncSession, cutoff: datetime) -> int:
    from sqlalchemy import delete

    result = await session.exec(delete(SeenDelivery).where(col(SeenDelivery.seen_at) < cutoff))  # type: ignore[call-overload]
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


async def is_bot_admin(session: AsyncSession, user_id: str) -> bool:
    admins = session.sync_session.info.get("hubao.admins")
    if admins is None:  # one query per transaction; the table holds a handful of rows
        admins = set((await session.exec(_ADMINS)).all())
        session.sync_session.info["hubao.admins"] = admins
    return user_id in admins


async def take_next_number(session: AsyncSession, group_id: int) -> int:
    """Atomically allocate the group's next risk number."""
    result = await session.exec(_NEXT_NUMBER, params={"group": group_id})  # type: ignore[call-overload]
    return int(result.scalar_one()) - 1


async def get_risk(session: AsyncSession, group_id: int, number: int, *, for_update: bool = False) -> Risk | None:
    stmt = _RISK_FOR_UPDATE if for_update else _RISK
    return (await session.exec(stmt, params={"group_id": group_id, "number": number})).first()


def _matching(
    stmt: Any, group_id: int, statuses: Sequence[str], owner_id: str | None, overdue_at: datetime | None
) -> Any:
    stmt = stmt.where(Risk.group_id == group_id, col(Risk.status).in_(statuses))
    if owner_id is not None:
        stmt = stmt.where(Risk.owner_id == owner_id)
    if overdue_at is not None:
        stmt = stmt.where(col(Risk.resolve_by) < overdue_at)
    return stmt


async def list_risks(
    session: AsyncSession,
    group_id: int,
    *,
    statuses: Sequence[str] = OPEN_STATES,
    owner_id: str | None = None,
    overdue_at: datetime | None = None,
    limit: int = 200,
) -> list[Risk]:
    """The group's risks matching the filters, oldest first, at most ``limit``."""
    stmt = _matching(select(Risk), group_id, statuses, owner_id, overdue_at)
    stmt = stmt.order_by(col(Risk.created_at), col(Risk.number)).limit(limit)
    return list((await session.exec(stmt)).all())


async def count_risks(
    session: AsyncSession,
    group_id: int,
    statuses: Sequence[str] = OPEN_STATES,
    *,
    owner_id: str | None = None,
    overdue_at: datetime | None = None,
) -> int:
    """How many risks :func:`list_risks` would find without a limit."""
    stmt = _matching(select(func.count()).select_from(Risk), group_id, statuses, owner_id, overdue_at)
    return int((await session.exec(stmt)).one())


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
) -> RiskEvent:
    event = RiskEvent(
        group_id=group_id,
        risk_id=risk_id,
        actor_id=actor_id,
        kind=kind,
        at=at,
        data=data or {},
        message_id=message_id,
    )
    session.add(event)
    return event


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
    rows = [
        {
            "key": key,
            "platform": payload["platform"],
            "chat_id": payload["chat_id"],
            "lane": lane,
            "payload": payload,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": not_before or now,
            "created_at": now,
            "last_error": "",
        }
        for key, payload, lane in items
    ]
    queued = 0
    stmt = _insert_ignoring_duplicates(_dialect(session), Outbox, "key")
    connection = await session.connection()
    for row in rows:  # row by row: the count of rows really queued is wanted
        result = await connection.execute(stmt, row)
        queued += int(result.rowcount or 0)
    return queued
