"""Queries of the group routine beyond risks: the register (互保风险清单), goals, the pledge
(互保责任书), surveys (季度互保工作评估) and drills. Plain functions over an AsyncSession."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.storage.models import (
    Goal,
    Incident,
    Pledge,
    PledgeConfirmation,
    RegisterEntry,
    RiskEvent,
    Survey,
    SurveyAnswer,
)


async def next_number(session: AsyncSession, model: Any, group_id: int) -> int:
    """The group's next number of ``model`` (R1, G1, survey 1 …); the unique (group, number) pair
    turns a concurrent duplicate into an error rather than two entries with one number."""
    found = (await session.exec(select(func.max(model.number)).where(model.group_id == group_id))).first()
    return int(found or 0) + 1


# --- the register -----------------------------------------------------------------------
async def register_entry(session: AsyncSession, group_id: int, number: int) -> RegisterEntry | None:
    stmt = select(RegisterEntry).where(
        RegisterEntry.group_id == group_id, RegisterEntry.number == number, col(RegisterEntry.removed_at).is_(None)
    )
    return (await session.exec(stmt)).first()


async def register_entries(session: AsyncSession, group_id: int) -> list[RegisterEntry]:
    stmt = (
        select(RegisterEntry)
        .where(RegisterEntry.group_id == group_id, col(RegisterEntry.removed_at).is_(None))
        .order_by(col(RegisterEntry.number))
    )
    return list((await session.exec(stmt)).all())


# --- goals ------------------------------------------------------------------------------
async def goal(session: AsyncSession, group_id: int, number: int) -> Goal | None:
    stmt = select(Goal).where(Goal.group_id == group_id, Goal.number == number).with_for_update()
    return (await session.exec(stmt)).first()


async def goals(session: AsyncSession, group_id: int) -> list[Goal]:
    stmt = select(Goal).where(Goal.group_id == group_id).order_by(col(Goal.number))
    return list((await session.exec(stmt)).all())


async def group_events(
    session: AsyncSession, group_id: int, prefix: str, until: datetime | None = None
) -> list[RiskEvent]:
    """The group's audit events of kinds starting with ``prefix`` (``goal.``), oldest first."""
    stmt = select(RiskEvent).where(RiskEvent.group_id == group_id, col(RiskEvent.kind).startswith(prefix))
    if until is not None:
        stmt = stmt.where(col(RiskEvent.at) < until)
    return list((await session.exec(stmt.order_by(col(RiskEvent.at), col(RiskEvent.id)))).all())


# --- the pledge -------------------------------------------------------------------------
async def current_pledge(session: AsyncSession, group_id: int) -> Pledge | None:
    stmt = select(Pledge).where(Pledge.group_id == group_id).order_by(col(Pledge.set_at).desc(), col(Pledge.id).desc())
    return (await session.exec(stmt.limit(1))).first()


async def confirmations(session: AsyncSession, pledge_id: int) -> list[PledgeConfirmation]:
    stmt = (
        select(PledgeConfirmation)
        .where(PledgeConfirmation.pledge_id == pledge_id)
        .order_by(col(PledgeConfirmation.confirmed_at), col(PledgeConfirmation.id))
    )
    return list((await session.exec(stmt)).all())


# --- surveys ----------------------------------------------------------------------------
async def open_survey(session: AsyncSession, group_id: int, *, for_update: bool = False) -> Survey | None:
    stmt = select(Survey).where(Survey.open_slot == group_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.exec(stmt)).first()


async def survey_answers(session: AsyncSession, survey_id: int) -> list[SurveyAnswer]:
    stmt = select(SurveyAnswer).where(SurveyAnswer.survey_id == survey_id).order_by(col(SurveyAnswer.id))
    return list((await session.exec(stmt)).all())


async def surveys_between(session: AsyncSession, group_id: int, since: datetime, until: datetime) -> list[Survey]:
    """Surveys started in ``[since, until)``."""
    stmt = (
        select(Survey)
        .where(Survey.group_id == group_id, col(Survey.started_at) >= since, col(Survey.started_at) < until)
        .order_by(col(Survey.started_at))
    )
    return list((await session.exec(stmt)).all())


async def latest_closed_survey(session: AsyncSession, group_id: int) -> Survey | None:
    stmt = (
        select(Survey)
        .where(Survey.group_id == group_id, col(Survey.closed_at).is_not(None))
        .order_by(col(Survey.closed_at).desc())
    )
    return (await session.exec(stmt.limit(1))).first()


# --- incidents and drills ---------------------------------------------------------------
async def incidents_between(
    session: AsyncSession, group_ids: Sequence[int], since: datetime, until: datetime
) -> list[Incident]:
    """Incidents and drills started in ``[since, until)``."""
    stmt = (
        select(Incident)
        .where(col(Incident.group_id).in_(list(group_ids)), col(Incident.started_at) >= since,
               col(Incident.started_at) < until)
        .order_by(col(Incident.started_at))
    )  # fmt: skip
    return list((await session.exec(stmt)).all())


async def latest_drill(session: AsyncSession, group_id: int) -> Incident | None:
    """The group's most recent drill, open or ended (its findings are recorded against it)."""
    stmt = (
        select(Incident)
        .where(Incident.group_id == group_id, col(Incident.drill).is_(True))
        .order_by(col(Incident.started_at).desc(), col(Incident.id).desc())
    )
    return (await session.exec(stmt.limit(1))).first()


async def all_register_entries(session: AsyncSession, group_id: int) -> list[RegisterEntry]:
    """Every entry the register ever had, removed ones too (for the export)."""
    stmt = select(RegisterEntry).where(RegisterEntry.group_id == group_id).order_by(col(RegisterEntry.number))
    return list((await session.exec(stmt)).all())
