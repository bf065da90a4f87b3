"""Queries of the scheduler: timers, and the next moment anything is due.

Claims lock what they return: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two instances
never take the same row; on SQLite the caller's transaction already holds the database's
single write lock (``BEGIN IMMEDIATE``), which serialises every claimer. The escalation
sweep's own statements (claiming due risks, writing a batch of steps) are plain SQL in
:mod:`hubao.storage.sweep_sql`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.storage import outbox as outbox_store
from hubao.storage import repo
from hubao.storage.models import Group, Risk, Timer
from hubao.storage.tx import Tx


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _locked(session: AsyncSession, stmt: Any) -> Any:
    return stmt.with_for_update(skip_locked=True) if _dialect(session) == "postgresql" else stmt


async def next_risk_due(session: AsyncSession) -> datetime | None:
    stmt = select(func.min(Risk.next_step_at))
    return (await session.exec(stmt)).one()  # type: ignore[return-value]


# --- timers ---------------------------------------------------------------------------------


async def put_timer(
    session: AsyncSession,
    *,
    key: str,
    kind: str,
    due_at: datetime,
    now: datetime,
    group_id: int | None = None,
    ref: str = "",
    data: dict[str, Any] | None = None,
) -> Timer:
    """Create the timer ``key`` or move it to ``due_at`` (kind, group, ref and data updated too).

    One upsert, so that instances scheduling the same timer at once (each making sure a group
    has its weekly timer, say) end with one row instead of a unique-key error.
    """
    changes: dict[str, Any] = {"kind": kind, "group_id": group_id, "ref": ref, "due_at": due_at}
    if data is not None:
        changes["data"] = data
    stmt = (
        repo._insert(session, Timer)
        .values(key=key, runs=0, created_at=now, data=data or {}, **{k: v for k, v in changes.items() if k != "data"})
        .on_conflict_do_update(index_elements=["key"], set_=changes)
    )
    await session.exec(stmt)  # type: ignore[call-overload]
    found = select(Timer).where(Timer.key == key).execution_options(populate_existing=True)
    return (await session.exec(found)).one()


async def get_timer(session: AsyncSession, key: str) -> Timer | None:
    return (await session.exec(select(Timer).where(Timer.key == key))).first()


async def drop_timer(session: AsyncSession, key: str) -> bool:
    result = await session.exec(delete(Timer).where(col(Timer.key) == key))  # type: ignore[call-overload]
    return bool(result.rowcount)


async def claim_due_timers(session: AsyncSession, now: datetime, kinds: Collection[str], limit: int) -> list[Timer]:
    if not kinds:
        return []
    stmt = (
        select(Timer)
        .where(col(Timer.due_at) <= now, col(Timer.kind).in_(kinds))
        .order_by(col(Timer.due_at), col(Timer.id))
        .limit(limit)
    )
    return list((await session.exec(_locked(session, stmt))).all())


async def next_timer_due(session: AsyncSession, kinds: Collection[str]) -> datetime | None:
    if not kinds:
        return None
    stmt = select(func.min(Timer.due_at)).where(col(Timer.kind).in_(kinds))
    return (await session.exec(stmt)).one()  # type: ignore[return-value]


async def groups_without_timer(session: AsyncSession, kind: str) -> Sequence[Group]:
    """Groups that have no timer of ``kind`` (e.g. new groups lacking their weekly post)."""
    having = select(Timer.group_id).where(Timer.kind == kind, col(Timer.group_id).is_not(None))
    stmt = select(Group).where(col(Group.id).not_in(having)).order_by(col(Group.id))
    return (await session.exec(stmt)).all()


# --- outbox ---------------------------------------------------------------------------------


async def next_outbox_due(session: AsyncSession) -> datetime | None:
    """When the delivery worker next has something to do: a channel's next send (its earliest
    pending message, or the channel's pace when later), or a claim lapsing."""
    return await outbox_store.next_due(await Tx.over(session))
