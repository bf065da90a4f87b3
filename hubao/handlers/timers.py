"""The database timers of the reporting features: the weekly summary, meeting auto-close and
incident prompts.

Kinds are registered once by the composition root (:func:`register`); the timer sweep
(:mod:`hubao.scheduler.timers`) runs each due timer exactly once, inside its transaction,
and the messages are queued under :func:`~hubao.scheduler.timers.message_key`, so a rerun
after a crash queues nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.config import Config
from hubao.bot.events import OutboundMessage
from hubao.handlers import reports, weekly
from hubao.scheduler import timers
from hubao.scheduler.calendar import Calendar
from hubao.storage import repo
from hubao.storage.models import Incident, Meeting, Timer
from hubao.storage.records import GroupRecord

MEETING_CLOSE = "meeting.close"
INCIDENT_PROMPT = "incident.prompt"


def meeting_key(meeting: Meeting) -> str:
    return f"meeting:{meeting.id}:close"


def incident_key(incident: Incident) -> str:
    return f"incident:{incident.id}:prompt"


async def schedule_meeting_close(session: AsyncSession, meeting: Meeting, config: Config) -> None:
    await timers.schedule(
        session,
        kind=MEETING_CLOSE,
        key=meeting_key(meeting),
        due_at=meeting.started_at + config.meetings.auto_close,
        now=meeting.started_at,
        group_id=meeting.group_id,
        ref=str(meeting.id),
    )


async def cancel_meeting_close(session: AsyncSession, meeting: Meeting) -> None:
    await timers.cancel(session, meeting_key(meeting))


async def schedule_incident_prompt(session: AsyncSession, incident: Incident, due_at: datetime) -> None:
    await timers.schedule(
        session,
        kind=INCIDENT_PROMPT,
        key=incident_key(incident),
        due_at=due_at,
        now=incident.started_at,
        group_id=incident.group_id,
        ref=str(incident.id),
    )


async def cancel_incident_prompt(session: AsyncSession, incident: Incident) -> None:
    await timers.cancel(session, incident_key(incident))


async def _queue(session: AsyncSession, timer: Timer, messages: Sequence[OutboundMessage], now: datetime) -> None:
    items = [(timers.message_key(timer, f":{i}"), m.to_json(), int(m.lane)) for i, m in enumerate(messages)]
    await repo.enqueue(session, items, now=now)


def register(sweep: timers.TimerSweep, config: Config, calendar_for: Callable[[GroupRecord], Calendar]) -> None:
    """Register the kinds of this module on the app's timer sweep; the weekly post (scheduled by
    :mod:`hubao.handlers.weekly`) becomes the weekly summary."""
    from hubao.handlers import incidents, meetings  # they import this module's scheduling helpers

    async def weekly_summary(session: AsyncSession, timer: Timer, now: datetime) -> datetime | None:
        group = await repo.get_group_by_id(session, timer.group_id or 0)
        if group is None:
            return None
        summaries = await reports.weekly_summaries(session, [group], config, now, slot=timer.due_at)
        await _queue(session, timer, list(summaries.values()), now)
        return weekly.next_weekly_at(group, config, now, calendar_for(group))

    async def close_meeting(session: AsyncSession, timer: Timer, now: datetime) -> datetime | None:
        digest = await meetings.auto_close(session, int(timer.ref), config, now)
        if digest is not None:
            await _queue(session, timer, [digest], now)
        return None

    async def prompt_incident(session: AsyncSession, timer: Timer, now: datetime) -> datetime | None:
        messages, next_at = await incidents.prompt(session, int(timer.ref), timer.due_at, config, now)
        await _queue(session, timer, messages, now)
        return next_at

    sweep.register(weekly.KIND, weekly_summary, replace=True)
    sweep.register(MEETING_CLOSE, close_meeting)
    sweep.register(INCIDENT_PROMPT, prompt_incident)
