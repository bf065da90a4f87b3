"""Emergency (incident) mode.

``/incident start <text>`` (leader, admin) opens the group's incident and tells everyone;
``/incident update <text>`` records progress (any member: the prompts ask the whole group);
``/incident end [summary]`` (leader, admin) closes it and posts the timeline. While it is
open, every ``[incidents] prompt_every`` (30 min by default) counted from the start, the bot
asks the group for progress; when a whole interval passed without an update, the prompt
@-mentions the leader. The prompts run from a database timer (registered by :func:`register_timers`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.config import Config
from hubao.bot.events import Format, Lane, OutboundMessage, User
from hubao.bot.i18n import Catalog
from hubao.bot.router import CommandContext, Role, Router, UsageError
from hubao.bot.timeparse import format_duration
from hubao.handlers.common import MAX_CONTENT, group_id, group_zone, local_time, person, roster
from hubao.handlers.reports import catalog_for, span_text
from hubao.handlers.risks import create_risk
from hubao.scheduler import timers
from hubao.scheduler.calendar import ALWAYS, Calendar
from hubao.storage import reports as store
from hubao.storage import routine as routine_store
from hubao.storage.models import Group, Incident, IncidentEntry, Timer
from hubao.storage.records import GroupRecord
from hubao.storage.tx import Tx

Ctx = CommandContext[Tx]
CalendarFor = Callable[[GroupRecord], Calendar]
DRILL_FLAGS = ("--drill", "—drill", "演练")
TIMELINE_HEAD = 10
TIMELINE_TAIL = 40


def router(config: Config, calendar_for: CalendarFor = lambda _g: ALWAYS) -> Router:
    r = Router()

    @r.command(
        "incident",
        aliases=["应急"],
        roles=Role.MEMBER,
        usage="/incident <start|update|end> …",
        summary="help.incident",
    )
    async def incident_usage(ctx: Ctx) -> None:
        raise UsageError(ctx.t("incident.subcommands"))

    @r.command(
        "incident start",
        aliases=["应急 start", "应急 开始"],
        roles=Role.LEADER,
        usage="/incident start <text>",
        summary="help.incident_start",
    )
    async def start(ctx: Ctx) -> None:
        drill = bool(ctx.args.words) and ctx.args.words[0].lower() in DRILL_FLAGS
        if drill:
            ctx.args = replace(ctx.args, words=ctx.args.words[1:])
            if not ctx.args.words:
                raise UsageError(ctx.t("drill.need_scenario"))
        await open_incident(ctx, drill=drill)

    @r.command(
        "incident drill",
        aliases=["应急 演练", "应急 drill", "演练"],
        roles=Role.LEADER | Role.ADMIN,
        usage="/incident drill <scenario>",
        summary="help.incident_drill",
    )
    async def drill(ctx: Ctx) -> None:
        await open_incident(ctx, drill=True)

    async def open_incident(ctx: Ctx, *, drill: bool) -> None:
        now = ctx.clock.now()
        gid = group_id(ctx.group)
        zone = group_zone(ctx.group, config)
        current = await store.open_incident(ctx.store.session, gid)
        if current is not None:
            ctx.reply(ctx.t("incident.already_open", title=current.title, at=local_time(current.started_at, zone)))
            return
        title = _text(ctx)
        every = config.incidents.prompt_every
        incident = Incident(
            group_id=gid,
            title=title,
            started_by=ctx.event.sender.id,
            started_at=now,
            prompt_every_s=int(every.total_seconds()),
            open_slot=gid,
            drill=drill,
        )
        try:
            async with ctx.store.session.begin_nested():
                ctx.store.session.add(incident)
                await ctx.store.session.flush()
        except IntegrityError:  # another start won the race
            ctx.reply(ctx.t("incident.already_open", title=title, at=local_time(now, zone)))
            return
        ctx.store.session.add(
            IncidentEntry(
                incident_id=incident.id or 0, at=now, actor_id=ctx.event.sender.id, kind="started", text=title
            )
        )
        await schedule_incident_prompt(ctx.store.session, incident, now + every)
        if drill:  # a drill is announced to everyone too, but never as an emergency
            ctx.reply(ctx.t("drill.started", title=title, every=format_duration(every)), mention_all=True)
            return
        ctx.reply(
            ctx.t("incident.started", title=title, every=format_duration(every)), mention_all=True, lane=Lane.URGENT
        )

    @r.command(
        "incident update",
        aliases=["应急 update", "应急 进展"],
        roles=Role.MEMBER,
        usage="/incident update <text>",
        summary="help.incident_update",
    )
    async def update(ctx: Ctx) -> None:
        incident = await store.open_incident(ctx.store.session, group_id(ctx.group), for_update=True)
        if incident is None:
            ctx.reply(ctx.t("incident.none_open"))
            return
        now = ctx.clock.now()
        ctx.store.session.add(
            IncidentEntry(
                incident_id=incident.id or 0, at=now, actor_id=ctx.event.sender.id, kind="update", text=_text(ctx)
            )
        )
        ctx.reply(ctx.t("incident.updated", at=local_time(now, group_zone(ctx.group, config))))

    @r.command(
        "incident end",
        aliases=["应急 end", "应急 结束"],
        roles=Role.LEADER,
        usage="/incident end [summary]",
        summary="help.incident_end",
    )
    async def end(ctx: Ctx) -> None:
        incident = await store.open_incident(ctx.store.session, group_id(ctx.group), for_update=True)
        if incident is None:
            ctx.reply(ctx.t("incident.none_open"))
            return
        now = ctx.clock.now()
        summary = ctx.args.text.strip()[:MAX_CONTENT]
        incident.ended_at, incident.ended_by, incident.summary, incident.open_slot = (
            now,
            ctx.event.sender.id,
            summary,
            None,
        )
        ctx.store.session.add(incident)
        ctx.store.session.add(
            IncidentEntry(
                incident_id=incident.id or 0, at=now, actor_id=ctx.event.sender.id, kind="ended", text=summary
            )
        )
        await ctx.store.session.flush()
        await cancel_incident_prompt(ctx.store.session, incident)
        entries = await store.incident_entries(ctx.store.session, incident.id or 0)
        names = await roster(ctx.store.session, ctx.group)
        text = render_timeline(incident, entries, names, ctx.t, group_zone(ctx.group, config))
        if incident.drill:
            text += "\n\n" + ctx.t("drill.ask_findings")
        title_key = "drill.timeline_title" if incident.drill else "incident.timeline_title"
        ctx.reply(text, title=ctx.t(title_key, title=incident.title), format=Format.MARKDOWN)

    @r.command(
        "incident finding",
        aliases=["应急 finding", "应急 问题", "演练 问题"],
        roles=Role.MEMBER,
        usage="/incident finding <text> [@owner] [!高/!中/!低] [due:<time>]",
        summary="help.incident_finding",
    )
    async def finding(ctx: Ctx) -> None:
        drill = await routine_store.latest_drill(ctx.store.session, group_id(ctx.group))
        if drill is None:
            ctx.reply(ctx.t("drill.none"))
            return
        text = _text(ctx)
        level = ctx.args.level.value if ctx.args.level else "medium"
        risk = await create_risk(ctx, config, calendar_for, level=level, urgent=False, source="drill")
        ctx.store.session.add(
            IncidentEntry(incident_id=drill.id or 0, at=ctx.clock.now(), actor_id=ctx.event.sender.id, kind="finding",
                          text=text, data={"risk": risk.number})
        )  # fmt: skip
        card = ctx.out[-1]
        ctx.out[-1] = card.with_text(ctx.t("drill.finding_recorded", title=drill.title) + "\n" + card.text)

    return r


def _text(ctx: Ctx) -> str:
    text = ctx.args.text.strip()
    if len(text) > MAX_CONTENT:
        raise UsageError(ctx.t("risk.too_long", max=MAX_CONTENT))
    return text


def _every(incident: Incident) -> timedelta:
    return timedelta(seconds=incident.prompt_every_s)


def render_timeline(
    incident: Incident, entries: list[IncidentEntry], names: dict[str, User], t: Catalog, zone: ZoneInfo
) -> str:
    assert incident.ended_at is not None
    every = format_duration(_every(incident))
    lines = [
        t(
            "incident.timeline_time",
            start=local_time(incident.started_at, zone),
            end=local_time(incident.ended_at, zone),
            span=span_text(incident.ended_at - incident.started_at, t),
        ),
    ]
    if incident.summary:
        lines.append(t("incident.timeline_summary", summary=incident.summary))
    lines += ["", t("incident.section_timeline")]
    shown: list[str] = []
    for entry in entries:
        at = local_time(entry.at, zone)
        actor = t("actor.system") if entry.actor_id == "system" else person(entry.actor_id, names).display
        if entry.kind == "prompt":
            if entry.data.get("silent"):
                shown.append(t("incident.entry_silent", at=at, every=every))
        elif entry.kind == "ended" and not entry.text:
            shown.append(t("incident.entry_ended_plain", at=at, actor=actor))
        else:
            shown.append(t(f"incident.entry_{entry.kind}", at=at, actor=actor, text=entry.text))
    if len(shown) > TIMELINE_HEAD + TIMELINE_TAIL:
        hidden = len(shown) - TIMELINE_HEAD - TIMELINE_TAIL
        shown = [*shown[:TIMELINE_HEAD], t("incident.more", count=hidden), *shown[-TIMELINE_TAIL:]]
    return "\n".join(lines + shown)


async def prompt(
    session: AsyncSession, incident_id: int, due_at: datetime, config: Config, now: datetime
) -> tuple[list[OutboundMessage], datetime | None]:
    """The timer's work at the prompt mark ``due_at``: the message to post, and the next mark.

    Silent interval (no update since the previous mark) → the prompt @-mentions the leader.
    After downtime one prompt is posted (saying how long the incident has really lasted) and the
    next mark is the first one after ``now``.
    """
    incident = await session.get(Incident, incident_id, with_for_update=True)
    if incident is None or incident.open_slot is None:
        return [], None
    group = await session.get(Group, incident.group_id)
    if group is None:
        return [], None
    every = _every(incident)
    last = await store.last_update_at(session, incident_id)
    silent = last is None or last <= due_at - every
    t = catalog_for(group, config)
    names = await roster(session, group)
    fields = {
        "title": incident.title,
        "elapsed": span_text(now - incident.started_at, t),  # the real duration, even when posted late
        "every": format_duration(every),
    }
    leader = person(group.leader_id, names) if group.leader_id else None
    if incident.drill:
        fields["title"] = t("drill.mark", title=incident.title)
    message = OutboundMessage(
        platform=group.platform,
        chat_id=group.chat_id,
        text=t("incident.prompt_silent" if silent else "incident.prompt", **fields),
        mentions=(leader,) if silent and leader is not None else (),
        lane=Lane.URGENT,
    )
    session.add(
        IncidentEntry(
            incident_id=incident_id,
            at=now,
            actor_id="system",
            kind="prompt",
            data={"due": due_at.isoformat(), "silent": silent},
        )
    )
    next_at = due_at + every
    while next_at <= now:
        next_at += every
    return [message], next_at


# --- the progress-prompt timer -----------------------------------------------------------

INCIDENT_PROMPT = "incident.prompt"


def incident_key(incident: Incident) -> str:
    return f"incident:{incident.id}:prompt"


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


def register_timers(sweep: timers.TimerSweep, config: Config) -> None:
    """While an incident lasts, the group is prompted for progress every ``incidents.prompt_every``."""

    async def prompt_incident(session: AsyncSession, timer: Timer, now: datetime) -> datetime | None:
        messages, next_at = await prompt(session, int(timer.ref), timer.due_at, config, now)
        await timers.queue_messages(session, timer, messages, now)
        return next_at

    sweep.register(INCIDENT_PROMPT, prompt_incident)
