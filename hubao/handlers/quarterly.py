"""The quarterly report (季度互保报告): ``/summary quarter [this|last]`` (``/周报 季度``), and posted
by itself at the start of each quarter for the one just ended (timer kind ``quarterly``).

Every figure comes from the event log, through the same functions as the weekly summary
(:func:`hubao.handlers.metrics.compute`, :func:`hubao.handlers.goals.goal_figures`), over the
calendar quarter in the group's time zone and the quarter before it: 风险提醒次数 per member,
协同解决率, 目标达成率, the on-time rate and response times with the previous quarter's beside
them, the most frequent tags and levels of the risks logged, the evaluation results of surveys
started in the quarter, incidents and drills (counted apart), the points and the quarter's 互保之星.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.config import Config
from hubao.bot.events import Format, Lane, OutboundMessage, User
from hubao.bot.i18n import Catalog
from hubao.bot.router import CommandContext, Role, Router, UsageError
from hubao.handlers import goals, survey, weekly
from hubao.handlers.common import group_id, group_zone, level_label, local_time
from hubao.handlers.metrics import Period, PointRules, compute
from hubao.handlers.quarter_period import quarter_label, quarter_period
from hubao.handlers.reports import (
    BOARD_LIMIT,
    board_lines,
    catalog_for,
    clip,
    delta_text,
    range_text,
    rate_text,
    reminder_line,
    span_text,
)
from hubao.scheduler import timers
from hubao.scheduler.calendar import Calendar
from hubao.storage import repo
from hubao.storage import routine as store
from hubao.storage import schedule as schedule_store
from hubao.storage.models import Group, Risk, Timer
from hubao.storage.records import GroupRecord
from hubao.storage.reports import load_history
from hubao.storage.tx import Tx

Ctx = CommandContext[Tx]
KIND = "quarterly"
TOP = 5
LEVEL_ORDER = ("high", "medium", "low")  # ties of the level counts are shown in this order
WHICH = {"this": 0, "本季度": 0, "本季": 0, "last": -1, "上季度": -1, "上季": -1}


async def quarterly_report(
    session: AsyncSession, group: Group, config: Config, period: Period, now: datetime
) -> OutboundMessage:
    gid = group_id(group)
    zone = group_zone(group, config)
    t = catalog_for(group, config)
    previous = quarter_period(period.start, zone, -1)
    rules = PointRules.from_config(config.points)
    risks, events = await load_history(session, [gid], previous.start, period.end)
    current = compute(risks[gid], events.get(gid, ()), period, now, rules)
    before = compute(risks[gid], events.get(gid, ()), previous, now, rules)
    goal_events = await store.group_events(session, gid, "goal.")
    goals_now = goals.goal_figures(goal_events, period, now)
    goals_before = goals.goal_figures(goal_events, previous, now)
    rows = await repo.members(session, gid, active_only=False)
    names = {m.user_id: User(m.user_id, m.name) for m in rows}
    active = [m.user_id for m in rows if m.active]
    was = "quarter.before"
    lines = [
        t("quarter.period", range=range_text(period, zone), as_of=local_time(current.as_of, zone)),
        "",
        t("summary.section_counts"),
        t("summary.counts", new=current.new, d_new=delta_text(current.new, before.new, t), resolved=current.resolved,
          d_resolved=delta_text(current.resolved, before.resolved, t), open=current.open,
          d_open=delta_text(current.open, before.open, t), overdue=len(current.overdue),
          d_overdue=delta_text(len(current.overdue), len(before.overdue), t)),
        "",
        t("summary.section_speed"),
        t("summary.response", median=span_text(current.median_response, t),
          d_median=t(was, value=span_text(before.median_response, t)), p90=span_text(current.p90_response, t),
          d_p90=t(was, value=span_text(before.p90_response, t))),
        t("summary.on_time", rate=rate_text(current.on_time_rate, t),
          d_rate=t(was, value=rate_text(before.on_time_rate, t))),
        t("summary.collab", rate=rate_text(current.collaboration_rate, t),
          d_rate=t(was, value=rate_text(before.collaboration_rate, t))),
        "- " + goals.rate_line(goals_now, t, goals_before),
        "",
        t("summary.section_reminders"),
        reminder_line(current, names, active, t),
    ]  # fmt: skip
    lines += ["", t("quarter.section_kinds"), *await _tags_and_levels(session, gid, period, t)]
    lines += ["", t("quarter.section_survey"), *await _survey_lines(session, gid, period, t, zone)]
    lines += ["", t("quarter.section_drills"), *await _incident_lines(session, gid, period, t, zone)]
    lines += ["", t("summary.section_points"), *board_lines(current, names, t, BOARD_LIMIT)]
    label = quarter_label(period, zone)
    return OutboundMessage(
        platform=group.platform, chat_id=group.chat_id, text="\n".join(lines),
        title=t("quarter.title", group=group.name, quarter=label), format=Format.MARKDOWN, lane=Lane.DIGEST,
    )  # fmt: skip


async def _tags_and_levels(session: AsyncSession, gid: int, period: Period, t: Catalog) -> list[str]:
    stmt = select(Risk.level, Risk.tags).where(
        Risk.group_id == gid, col(Risk.created_at) >= period.start, col(Risk.created_at) < period.end
    )
    levels: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    for level, risk_tags in (await session.exec(stmt)).all():
        levels[level] += 1
        tags.update(risk_tags or [])
    if not levels:
        return ["- " + t("none")]
    ordered = sorted(levels.items(), key=lambda i: (-i[1], LEVEL_ORDER.index(i[0]) if i[0] in LEVEL_ORDER else 9))
    level_text = " · ".join(f"{level_label(level, t)} {n}" for level, n in ordered)
    tag_text = " · ".join(f"#{tag} {n}" for tag, n in sorted(tags.items(), key=lambda i: (-i[1], i[0]))[:TOP])
    return [t("quarter.levels", levels=level_text), t("quarter.tags", tags=tag_text or t("none"))]


async def _survey_lines(session: AsyncSession, gid: int, period: Period, t: Catalog, zone: object) -> list[str]:
    found = await store.surveys_between(session, gid, period.start, period.end)
    if not found:
        return ["- " + t("quarter.no_survey")]
    lines: list[str] = []
    for held in found:
        results = await survey.results_of(session, held)
        lines.append(t("quarter.survey_title", title=held.title))
        lines += survey.render_results(results, t, zone, comments=False)
    return lines


async def _incident_lines(session: AsyncSession, gid: int, period: Period, t: Catalog, zone: object) -> list[str]:
    held = await store.incidents_between(session, [gid], period.start, period.end)
    drills = [i for i in held if i.drill]
    real = [i for i in held if not i.drill]
    lines = [t("quarter.incident_counts", drills=len(drills), incidents=len(real))]
    for drill in drills[:TOP]:
        span = span_text(drill.ended_at - drill.started_at, t) if drill.ended_at else t("quarter.ongoing")
        lines.append(t("quarter.drill_line", at=local_time(drill.started_at, zone),  # type: ignore[arg-type]
                       title=clip(drill.title, 40), span=span))  # fmt: skip
    return lines


def router(config: Config) -> Router:
    r = Router()

    @r.command(
        "summary quarter",
        aliases=["周报 季度", "周报 quarter", "summary 季度"],
        roles=Role.MEMBER,
        usage="/summary quarter [this|last]",
        summary="help.summary_quarter",
    )
    async def quarter(ctx: Ctx) -> None:
        which = ctx.args.text.strip().lower() or "this"
        if which not in WHICH:
            raise UsageError(ctx.t("quarter.bad_which"))
        now = ctx.clock.now()
        period = quarter_period(now, group_zone(ctx.group, config), WHICH[which])
        group = await ctx.store.session.get(Group, group_id(ctx.group))
        assert group is not None
        message = await quarterly_report(ctx.store.session, group, config, period, now)
        ctx.reply(message.text, title=message.title, format=Format.MARKDOWN)

    return r


# --- the post at the start of each quarter -----------------------------------------------


def next_quarter_at(group: GroupRecord, config: Config, after: datetime, calendar: Calendar) -> datetime:
    """The first quarter start (09:00 group time, plus the group's weekly jitter) after ``after``."""
    zone = group_zone(group, config)
    shift = timedelta(hours=9, minutes=weekly.jitter_minutes(group, config.digest.jitter))  # type: ignore[arg-type]
    offset = 0
    while True:
        start = quarter_period(after, zone, offset).start.astimezone(zone)
        moment = calendar.next_open(start + shift)
        if moment > after:
            return moment
        offset += 1


async def schedule_quarterly(
    session: AsyncSession, group: Group, config: Config, now: datetime, calendar: Calendar
) -> Timer:
    return await timers.schedule(session, kind=KIND, key=f"{KIND}:{group.id}",
                                 due_at=next_quarter_at(group, config, now, calendar), now=now,
                                 group_id=group.id)  # fmt: skip


async def ensure_quarterly(
    session: AsyncSession, config: Config, now: datetime, calendar_for: Callable[[GroupRecord], Calendar]
) -> int:
    """Give every group that lacks one its quarterly timer; returns how many were added."""
    added = 0
    for group in await schedule_store.groups_without_timer(session, KIND):
        await schedule_quarterly(session, group, config, now, calendar_for(group))
        added += 1
    return added


def register_timers(
    sweep: timers.TimerSweep, config: Config, calendar_for: Callable[[GroupRecord], Calendar]
) -> None:
    """At the start of a quarter each group gets the report of the quarter just ended."""

    async def post(session: AsyncSession, timer: Timer, now: datetime) -> datetime | None:
        group = await repo.get_group_by_id(session, timer.group_id or 0)
        if group is None:
            return None
        zone = group_zone(group, config)
        ended = quarter_period(timer.due_at, zone, -1)
        message = await quarterly_report(session, group, config, ended, now)
        await timers.queue_messages(session, timer, [message], now)
        return next_quarter_at(group, config, now, calendar_for(group))

    sweep.register(KIND, post)
