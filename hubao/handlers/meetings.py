"""Meetings: the leader starts and ends, anyone records notes, decisions and actions.

Each action becomes a tracked risk (source ``meeting``) with its own clocks. At the end —
or, if the meeting is left open, after ``[meetings] auto_close`` — the bot posts the digest:
title, time, who took part (everyone who spoke to the meeting), notes, decisions, actions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.config import Config
from hubao.bot.events import Format, Lane, OutboundMessage, User
from hubao.bot.i18n import Catalog
from hubao.bot.router import CommandContext, Role, Router, UsageError
from hubao.bot.timeparse import format_duration
from hubao.handlers.common import MAX_CONTENT, group_id, group_zone, local_time, person, roster
from hubao.handlers.reports import catalog_for, clip, span_text
from hubao.handlers.risks import create_risk
from hubao.scheduler import timers
from hubao.scheduler.calendar import ALWAYS, Calendar
from hubao.storage import reports as store
from hubao.storage.models import Group, Meeting, MeetingItem, Risk, Timer
from hubao.storage.records import GroupRecord
from hubao.storage.tx import Tx

Ctx = CommandContext[Tx]
CalendarFor = Callable[[GroupRecord], Calendar]
KINDS = ("note", "decision", "action")
SECTION_LIMIT = 50
ITEM_WIDTH = 200


def router(config: Config, calendar_for: CalendarFor = lambda _g: ALWAYS) -> Router:
    r = Router()

    @r.command(
        "meeting",
        aliases=["例会"],
        roles=Role.MEMBER,
        usage="/meeting <start|note|decision|action|end> …",
        summary="help.meeting",
    )
    async def meeting_usage(ctx: Ctx) -> None:
        raise UsageError(ctx.t("meeting.subcommands"))

    @r.command(
        "meeting start",
        aliases=["例会 start", "例会 开始"],
        roles=Role.LEADER,
        usage="/meeting start [title]",
        summary="help.meeting_start",
    )
    async def start(ctx: Ctx) -> None:
        now = ctx.clock.now()
        gid = group_id(ctx.group)
        zone = group_zone(ctx.group, config)
        current = await store.open_meeting(ctx.store.session, gid)
        if current is not None:
            ctx.reply(ctx.t("meeting.already_open", title=current.title, at=local_time(current.started_at, zone)))
            return
        title = clip(ctx.args.text, 100) or ctx.t(
            "meeting.default_title", group=ctx.group.name, day=now.astimezone(zone).strftime("%m-%d")
        )
        meeting = Meeting(group_id=gid, title=title, started_by=ctx.event.sender.id, started_at=now, open_slot=gid)
        try:
            async with ctx.store.session.begin_nested():
                ctx.store.session.add(meeting)
                await ctx.store.session.flush()
        except IntegrityError:  # another start won the race
            ctx.reply(ctx.t("meeting.already_open", title=title, at=local_time(now, zone)))
            return
        await schedule_meeting_close(ctx.store.session, meeting, config)
        ctx.reply(ctx.t("meeting.started", title=title, auto=format_duration(config.meetings.auto_close)))

    async def record(ctx: Ctx, kind: str) -> None:
        meeting = await store.open_meeting(ctx.store.session, group_id(ctx.group), for_update=True)
        if meeting is None:
            ctx.reply(ctx.t("meeting.none_open"))
            return
        text = ctx.args.text.strip()
        if len(text) > MAX_CONTENT:
            raise UsageError(ctx.t("risk.too_long", max=MAX_CONTENT))
        risk_id = None
        if kind == "action":
            level = ctx.args.level.value if ctx.args.level else "medium"
            risk = await create_risk(ctx, config, calendar_for, level=level, urgent=False, source="meeting")
            risk_id = risk.id
        ctx.store.session.add(
            MeetingItem(
                meeting_id=meeting.id or 0,
                kind=kind,
                text=text,
                author_id=ctx.event.sender.id,
                at=ctx.clock.now(),
                risk_id=risk_id,
                message_id=ctx.event.message_id,
            )
        )
        await ctx.store.session.flush()
        n = sum(1 for item in await store.meeting_items(ctx.store.session, meeting.id or 0) if item.kind == kind)
        if kind == "action":
            # create_risk answered with the risk card; say it belongs to the meeting.
            card = ctx.out[-1]
            ctx.out[-1] = card.with_text(ctx.t("meeting.recorded_action", n=n) + "\n" + card.text)
        else:
            ctx.reply(ctx.t(f"meeting.recorded_{kind}", n=n))

    @r.command(
        "meeting note",
        aliases=["例会 note", "例会 纪要", "纪要"],
        roles=Role.MEMBER,
        usage="/meeting note <text>",
        summary="help.meeting_note",
    )
    async def note(ctx: Ctx) -> None:
        await record(ctx, "note")

    @r.command(
        "meeting decision",
        aliases=["例会 decision", "例会 决议", "决议"],
        roles=Role.MEMBER,
        usage="/meeting decision <text>",
        summary="help.meeting_decision",
    )
    async def decision(ctx: Ctx) -> None:
        await record(ctx, "decision")

    @r.command(
        "meeting action",
        aliases=["例会 action", "例会 待办", "待办"],
        roles=Role.MEMBER,
        usage="/meeting action <text> [@owner] [!高/!中/!低] [due:<time>]",
        summary="help.meeting_action",
    )
    async def action(ctx: Ctx) -> None:
        await record(ctx, "action")

    @r.command(
        "meeting end",
        aliases=["例会 end", "例会 结束"],
        roles=Role.LEADER,
        usage="/meeting end",
        summary="help.meeting_end",
    )
    async def end(ctx: Ctx) -> None:
        meeting = await store.open_meeting(ctx.store.session, group_id(ctx.group), for_update=True)
        if meeting is None:
            ctx.reply(ctx.t("meeting.none_open"))
            return
        digest = await close_meeting(
            ctx.store.session, meeting, ctx.group, config, ctx.clock.now(), ctx.event.sender.id
        )
        await cancel_meeting_close(ctx.store.session, meeting)
        ctx.reply(digest.text, title=digest.title, format=Format.MARKDOWN)

    return r


async def close_meeting(
    session: AsyncSession, meeting: Meeting, group: Group, config: Config, now: datetime, by: str
) -> OutboundMessage:
    """Close ``meeting`` (``by`` = "system" when automatic) and return its digest."""
    meeting.ended_at, meeting.ended_by, meeting.open_slot = now, by, None
    session.add(meeting)
    await session.flush()
    items = await store.meeting_items(session, meeting.id or 0)
    risks = await store.risks_by_id(session, [i.risk_id for i in items if i.risk_id is not None])
    names = await roster(session, group)
    t = catalog_for(group, config)
    text = render_digest(meeting, items, risks, names, t, group_zone(group, config), config)
    return OutboundMessage(
        platform=group.platform,
        chat_id=group.chat_id,
        text=text,
        title=t("meeting.digest_title", title=meeting.title),
        format=Format.MARKDOWN,
        lane=Lane.DIGEST,
    )


def attendees(meeting: Meeting, items: list[MeetingItem]) -> list[str]:
    """Who took part: the starter, everyone who recorded something, and whoever ended it."""
    people = [meeting.started_by, *(i.author_id for i in items)]
    if meeting.ended_by and meeting.ended_by != "system":
        people.append(meeting.ended_by)
    return list(dict.fromkeys(people))


def render_digest(
    meeting: Meeting,
    items: list[MeetingItem],
    risks: dict[int, Risk],
    names: dict[str, User],
    t: Catalog,
    zone: ZoneInfo,
    config: Config,
) -> str:
    assert meeting.ended_at is not None
    lines = [
        t(
            "meeting.digest_time",
            start=local_time(meeting.started_at, zone),
            end=local_time(meeting.ended_at, zone).split(" ")[-1],
            span=span_text(meeting.ended_at - meeting.started_at, t),
        ),
    ]
    if meeting.ended_by == "system":
        lines.append(t("meeting.digest_auto", auto=format_duration(config.meetings.auto_close)))
    lines.append(
        t(
            "meeting.digest_people",
            names=t("role.join").join(person(u, names).display for u in attendees(meeting, items)),
        )
    )
    for kind in KINDS:
        section = [i for i in items if i.kind == kind]
        lines += ["", t(f"meeting.section_{kind}")]
        if not section:
            lines.append(t("meeting.section_empty"))
        for n, item in enumerate(section[:SECTION_LIMIT], start=1):
            risk = risks.get(item.risk_id) if item.risk_id is not None else None
            if kind == "action" and risk is not None:
                lines.append(
                    t(
                        "meeting.action_line",
                        n=n,
                        number=risk.number,
                        text=clip(item.text, ITEM_WIDTH),
                        owner=person(risk.owner_id, names).display,
                        due=local_time(risk.resolve_by, zone),
                    )
                )
            else:
                author = person(item.author_id, names).display
                lines.append(t("meeting.item", n=n, text=clip(item.text, ITEM_WIDTH), author=author))
        if len(section) > SECTION_LIMIT:
            lines.append(t("meeting.more", count=len(section) - SECTION_LIMIT))
    return "\n".join(lines)


async def auto_close(session: AsyncSession, meeting_id: int, config: Config, now: datetime) -> OutboundMessage | None:
    """The timer's work: close the meeting if it is still open and return the digest to post."""
    meeting = await session.get(Meeting, meeting_id, with_for_update=True)
    if meeting is None or meeting.open_slot is None:
        return None  # ended by hand meanwhile
    group = await session.get(Group, meeting.group_id)
    if group is None:
        return None
    return await close_meeting(session, meeting, group, config, now, "system")


# --- the auto-close timer ----------------------------------------------------------------

MEETING_CLOSE = "meeting.close"


def meeting_key(meeting: Meeting) -> str:
    return f"meeting:{meeting.id}:close"


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


def register_timers(sweep: timers.TimerSweep, config: Config) -> None:
    """A meeting left open is closed, with its digest, after ``meetings.auto_close``."""

    async def close_meeting(session: AsyncSession, timer: Timer, now: datetime) -> datetime | None:
        digest = await auto_close(session, int(timer.ref), config, now)
        if digest is not None:
            await timers.queue_messages(session, timer, [digest], now)
        return None

    sweep.register(MEETING_CLOSE, close_meeting)
