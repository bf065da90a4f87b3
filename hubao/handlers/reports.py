"""The weekly summary (/summary and the scheduled post), /stats and /points.

Every figure comes from :func:`hubao.handlers.metrics.compute` over the event log; this
module picks the period (week boundaries in the group's time zone), loads the history and
renders markdown that fits the platforms' size limits (long lists are cut with a count).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.config import Config
from hubao.bot.events import Format, Lane, OutboundMessage, User
from hubao.bot.i18n import Catalog
from hubao.bot.router import CommandContext, Role, Router, UsageError
from hubao.handlers import cross_links, goals, register
from hubao.handlers.common import group_id, group_zone, level_label, local_time, person, roster
from hubao.handlers.metrics import Figures, MemberFigures, Period, PointRules, compute, group_figures
from hubao.storage import repo
from hubao.storage.models import Group, Member
from hubao.storage.reports import load_history
from hubao.storage.tx import Tx
from hubao.web import links as web_links

Ctx = CommandContext[Tx]

OVERDUE_LIMIT = 10
REMINDER_LIMIT = 15
BOARD_LIMIT = 5
POINTS_LIMIT = 20
WHY_LIMIT = 30
CONTENT_WIDTH = 30
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MIN_YEAR, MAX_YEAR = 2000, 2100  # the days a period or an export may name

_DAYS = re.compile(r"^(\d{1,3})\s*(d|天|days?)$", re.IGNORECASE)
_RANGE = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})(?:\.\.|~|～|至|—|--)(\d{4}-\d{1,2}-\d{1,2})$")
_DAY = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
PERIOD_WORDS = {
    "this-week": "this-week", "本周": "this-week", "week": "this-week", "这周": "this-week",
    "last-week": "last-week", "上周": "last-week",
    "this-month": "this-month", "本月": "this-month", "month": "this-month",
    "last-month": "last-month", "上月": "last-month",
    "this-quarter": "this-quarter", "本季度": "this-quarter", "quarter": "this-quarter",
    "all": "all", "全部": "all",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class NamedPeriod:
    period: Period
    key: str
    fields: dict[str, Any] = field(default_factory=dict)

    def label(self, t: Catalog) -> str:
        return t(f"period.{self.key}", **self.fields)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def week_of(now: datetime, zone: ZoneInfo) -> Period:
    """Monday 00:00 to the next Monday 00:00 in ``zone``, around ``now``."""
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    return Period(local_midnight(monday, zone), local_midnight(monday + timedelta(days=7), zone))


def week_closed_by(slot: datetime, zone: ZoneInfo) -> Period:
    """The week a weekly post at ``slot`` summarises: a slot from Monday to Wednesday (local)
    closes the previous week, a slot from Thursday to Sunday the week it falls in."""
    week = week_of(slot, zone)
    return week.previous() if slot.astimezone(zone).weekday() <= 2 else week


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` with a year from 2000 to 2100 (ValueError otherwise): no report or export
    period reaches outside those years, so their time arithmetic can never overflow."""
    year, month, day = (int(part) for part in text.split("-"))
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"year {year} outside {MIN_YEAR}–{MAX_YEAR}")
    return date(year, month, day)


def parse_period(text: str, now: datetime, zone: ZoneInfo, default: str = "this-week") -> NamedPeriod:
    """``本周``/``this-week``, ``上周``, ``本月``, ``上月``, ``本季度``, ``7d``, ``全部``/``all``,
    or ``2026-11-01..2026-11-30`` (both days included); boundaries in ``zone``."""
    raw = text.strip().lower() or default
    today = now.astimezone(zone).date()
    key = PERIOD_WORDS.get(raw)
    if key == "this-week":
        return NamedPeriod(week_of(now, zone), key)
    if key == "last-week":
        return NamedPeriod(week_of(now, zone).previous(), key)
    if key in ("this-month", "last-month"):
        start = _add_months(_month_start(today), -1 if key == "last-month" else 0)
        return NamedPeriod(Period(local_midnight(start, zone), local_midnight(_add_months(start, 1), zone)), key)
    if key == "this-quarter":
        start = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
        return NamedPeriod(Period(local_midnight(start, zone), local_midnight(_add_months(start, 3), zone)), key)
    if key == "all":
        return NamedPeriod(Period(EPOCH, local_midnight(today + timedelta(days=1), zone)), key)
    if m := _DAYS.match(raw):
        days = int(m.group(1))
        if not 1 <= days <= 366:
            raise ValueError(raw)
        end = today + timedelta(days=1)
        return NamedPeriod(
            Period(local_midnight(end - timedelta(days=days), zone), local_midnight(end, zone)), "days", {"n": days}
        )
    if (m := _RANGE.match(raw)) or _DAY.match(raw):
        first, last = (m.group(1), m.group(2)) if m else (raw, raw)
        start, end = parse_day(first), parse_day(last)
        if end < start or (end - start).days > 3660:
            raise ValueError(raw)
        return NamedPeriod(
            Period(local_midnight(start, zone), local_midnight(end + timedelta(days=1), zone)),
            "range",
            {"start": start.isoformat(), "end": end.isoformat()},
        )
    raise ValueError(raw)


# --- small renderers --------------------------------------------------------------------
def span_text(delta: timedelta | None, t: Catalog) -> str:
    if delta is None:
        return t("none")
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return t("span.s", s=seconds)
    minutes = seconds // 60
    if minutes < 60:
        return t("span.m", m=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return t("span.hm", h=hours, m=minutes) if minutes else t("span.h", h=hours)
    days, hours = divmod(hours, 24)
    return t("span.dh", d=days, h=hours) if hours else t("span.d", d=days)


def rate_text(rate: float | None, t: Catalog) -> str:
    return t("none") if rate is None else f"{round(rate * 100)}%"


def delta_text(now: int, before: int, t: Catalog) -> str:
    if now > before:
        return t("delta.up", n=now - before)
    if now < before:
        return t("delta.down", n=before - now)
    return t("delta.same")


def clip(text: str, width: int = CONTENT_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def range_text(period: Period, zone: ZoneInfo) -> str:
    last = (period.end - timedelta(microseconds=1)).astimezone(zone)
    return f"{period.start.astimezone(zone):%m-%d} — {last:%m-%d}"


# --- the weekly summary -----------------------------------------------------------------
def render_summary(
    group: Group,
    current: Figures,
    previous: Figures,
    names: dict[str, User],
    members: Sequence[str],
    t: Catalog,
    zone: ZoneInfo,
) -> str:
    """The weekly summary as markdown: counts, speed, overdue list, reminders, points, changes."""
    before = "delta.before"
    lines = [
        t("summary.period", range=range_text(current.period, zone), as_of=local_time(current.as_of, zone)),
        "",
        t("summary.section_counts"),
        t(
            "summary.counts",
            new=current.new,
            d_new=delta_text(current.new, previous.new, t),
            resolved=current.resolved,
            d_resolved=delta_text(current.resolved, previous.resolved, t),
            open=current.open,
            d_open=delta_text(current.open, previous.open, t),
            overdue=len(current.overdue),
            d_overdue=delta_text(len(current.overdue), len(previous.overdue), t),
        ),
        "",
        t("summary.section_speed"),
        t(
            "summary.response",
            median=span_text(current.median_response, t),
            d_median=t(before, value=span_text(previous.median_response, t)),
            p90=span_text(current.p90_response, t),
            d_p90=t(before, value=span_text(previous.p90_response, t)),
        ),
        t(
            "summary.on_time",
            rate=rate_text(current.on_time_rate, t),
            d_rate=t(before, value=rate_text(previous.on_time_rate, t)),
        ),
        t(
            "summary.collab",
            rate=rate_text(current.collaboration_rate, t),
            d_rate=t(before, value=rate_text(previous.collaboration_rate, t)),
        ),
    ]
    if current.overdue:
        lines += ["", t("summary.section_overdue"), *overdue_lines(current, names, t)]
    lines += ["", t("summary.section_reminders"), reminder_line(current, names, members, t)]
    lines += ["", t("summary.section_points"), *board_lines(current, names, t, BOARD_LIMIT)]
    return "\n".join(lines)


def overdue_lines(figures: Figures, names: dict[str, User], t: Catalog) -> list[str]:
    lines = [
        t(
            "summary.overdue_line",
            number=risk.number,
            level=level_label(risk.level, t),
            content=clip(risk.content),
            owner=person(risk.owner_id, names).display,
            late=span_text(figures.as_of - risk.resolve_by, t),
        )
        for risk in figures.overdue[:OVERDUE_LIMIT]
    ]
    if len(figures.overdue) > OVERDUE_LIMIT:
        lines.append(t("summary.more", count=len(figures.overdue) - OVERDUE_LIMIT))
    return lines


def reminder_line(figures: Figures, names: dict[str, User], members: Sequence[str], t: Catalog) -> str:
    """风险提醒次数 of every active member (zeros too) and anyone else who logged one."""
    order = {user: i for i, user in enumerate(dict.fromkeys([*members, *figures.reminders]))}
    users = sorted(order, key=lambda u: (-figures.reminders[u], order[u]))
    parts = [t("summary.reminder", name=person(u, names).display, count=figures.reminders[u]) for u in users]
    if len(parts) > REMINDER_LIMIT:
        parts = [*parts[:REMINDER_LIMIT], t("summary.more", count=len(parts) - REMINDER_LIMIT).lstrip("- ")]
    return "- " + " · ".join(parts) if parts else "- " + t("none")


def board_lines(figures: Figures, names: dict[str, User], t: Catalog, limit: int) -> list[str]:
    board = figures.leaderboard()
    if not board:
        return [t("summary.no_points")]
    lines = [
        t("summary.rank", rank=rank, name=person(user, names).display, points=points)
        for rank, (user, points) in enumerate(board[:limit], start=1)
    ]
    if len(board) > limit:
        lines.append(t("summary.more", count=len(board) - limit))
    lines.append(t("summary.star", names=t("role.join").join(person(u, names).display for u in figures.stars())))
    return lines


async def _members_of(session: AsyncSession, group_ids: Sequence[int]) -> dict[int, list[Member]]:
    by_group: dict[int, list[Member]] = defaultdict(list)
    if group_ids:
        stmt = select(Member).where(col(Member.group_id).in_(list(group_ids))).order_by(col(Member.id))
        for member in (await session.exec(stmt)).all():
            by_group[member.group_id].append(member)
    return by_group


def catalog_for(group: Group, config: Config) -> Catalog:
    return Catalog(group.locale or config.bot.locale)


async def weekly_summaries(
    session: AsyncSession,
    groups: Sequence[Group],
    config: Config,
    now: datetime,
    which: str = "this-week",
    slot: datetime | None = None,
) -> dict[int, OutboundMessage]:
    """The weekly summary message of each group (one batch of queries for all of them): of the
    week ``which`` around ``now``, or — for the scheduled post — of :func:`week_closed_by` ``slot``."""
    rules = PointRules.from_config(config.points)
    by_zone: dict[str, list[Group]] = defaultdict(list)
    for group in groups:
        by_zone[group_zone(group, config).key].append(group)
    members = await _members_of(session, [group_id(g) for g in groups])
    out: dict[int, OutboundMessage] = {}
    for zone_name, zone_groups in by_zone.items():
        zone = ZoneInfo(zone_name)
        period = week_closed_by(slot, zone) if slot is not None else parse_period(which, now, zone).period
        previous = period.previous()
        ids = [group_id(g) for g in zone_groups]
        risks, events = await load_history(session, ids, previous.start, period.end)
        current_figures = group_figures(risks, events, period, now, rules)
        previous_figures = group_figures(risks, events, previous, now, rules)
        for group in zone_groups:
            gid = group_id(group)
            t = catalog_for(group, config)
            rows = members.get(gid, [])
            names = {m.user_id: User(m.user_id, m.name) for m in rows}
            active = [m.user_id for m in rows if m.active]
            text = render_summary(group, current_figures[gid], previous_figures[gid], names, active, t, zone)
            if extra := await goals.weekly_lines(session, gid, current_figures[gid].period, now, t, zone):
                text += "\n\n" + "\n".join(extra)
            period_now = current_figures[gid].period
            if extra := await cross_links.weekly_lines(session, gid, period_now.start, period_now.end, now, t):
                text += "\n\n" + "\n".join(extra)
            if extra := await register.stale_lines(session, gid, config, now, t):
                text += "\n\n" + "\n".join(extra)
            if (url := await web_links.group_link(await Tx.over(session), config, gid, now)) is not None:
                text += "\n\n" + t("web.footer", url=url)
            out[gid] = OutboundMessage(
                platform=group.platform,
                chat_id=group.chat_id,
                text=text,
                title=t("summary.title", group=group.name),
                format=Format.MARKDOWN,
                lane=Lane.DIGEST,
            )
    return out


async def figures_for(session: AsyncSession, group: Group, config: Config, period: Period, now: datetime) -> Figures:
    risks, events = await load_history(session, [group_id(group)], period.start, period.end)
    gid = group_id(group)
    return compute(risks[gid], events.get(gid, ()), period, now, PointRules.from_config(config.points))


# --- commands ---------------------------------------------------------------------------
def router(config: Config) -> Router:
    r = Router()

    def period_arg(ctx: Ctx, default: str = "this-week") -> NamedPeriod:
        text = ctx.args.text
        try:
            return parse_period(text, ctx.clock.now(), group_zone(ctx.group, config), default)
        except ValueError as exc:
            raise UsageError(ctx.t("period.bad", text=clip(text, 40))) from exc

    @r.command(
        "summary", aliases=["周报"], roles=Role.MEMBER, usage="/summary [this-week/last-week]",
        summary="help.summary",
    )  # fmt: skip
    async def summary(ctx: Ctx) -> None:
        which = PERIOD_WORDS.get(ctx.args.text.strip().lower() or "this-week")
        if which not in ("this-week", "last-week"):
            raise UsageError(ctx.t("summary.bad_which"))
        messages = await weekly_summaries(ctx.store.session, [ctx.group], config, ctx.clock.now(), which)
        message = messages[group_id(ctx.group)]
        ctx.reply(message.text, title=message.title, format=Format.MARKDOWN)

    @r.command(
        "stats", aliases=["统计"], roles=Role.MEMBER, usage="/stats [@user] [period]",
        summary="help.stats",
    )  # fmt: skip
    async def stats(ctx: Ctx) -> None:
        named = period_arg(ctx)
        zone = group_zone(ctx.group, config)
        figures = await figures_for(ctx.store.session, ctx.group, config, named.period, ctx.clock.now())
        names = await roster(ctx.store.session, ctx.group)
        t = ctx.t
        label = t("stats.period_label", label=named.label(t), range=range_text(named.period, zone))
        if ctx.args.users:
            user = ctx.args.users[0]
            mine = figures.members.get(user.id) or MemberFigures()
            name = person(user.id, names).display if user.id in names else user.display
            text = "\n".join(
                [
                    t(
                        "stats.member_lines",
                        reported=mine.reported,
                        owned_new=mine.owned_new,
                        resolved=mine.resolved,
                        on_time=mine.resolved_on_time,
                        acked=mine.acked,
                        late=mine.acked_late,
                        median=span_text(mine.median_response, t),
                        open=mine.open,
                        overdue=mine.overdue,
                        points=mine.points,
                    ),
                ]
            )
            ctx.reply(text, title=t("stats.member_title", name=name, period=label), format=Format.MARKDOWN)
            return
        active = [m.user_id for m in await repo.members(ctx.store.session, group_id(ctx.group))]
        lines = [
            t(
                "summary.counts",
                new=figures.new,
                d_new="",
                resolved=figures.resolved,
                d_resolved="",
                open=figures.open,
                d_open="",
                overdue=len(figures.overdue),
                d_overdue="",
            ),
            t("stats.overdue_rate", rate=rate_text(figures.overdue_rate, t)),
            t(
                "summary.response",
                median=span_text(figures.median_response, t),
                d_median="",
                p90=span_text(figures.p90_response, t),
                d_p90="",
            ),
            t("summary.on_time", rate=rate_text(figures.on_time_rate, t), d_rate=""),
            t("summary.collab", rate=rate_text(figures.collaboration_rate, t), d_rate=""),
            "- " + goals.rate_line(await goals.figures_of(ctx.store.session, group_id(ctx.group), named.period,
                                                          ctx.clock.now()), t),
            "",
            t("summary.section_reminders"),
            reminder_line(figures, names, active, t),
        ]
        if figures.overdue:
            lines += ["", t("summary.section_overdue"), *overdue_lines(figures, names, t)]
        ctx.reply("\n".join(lines), title=t("stats.title", group=ctx.group.name, period=label), format=Format.MARKDOWN)

    @r.command(
        "points", aliases=["积分", "排行"], roles=Role.MEMBER, usage="/points [period]",
        summary="help.points",
    )  # fmt: skip
    async def points(ctx: Ctx) -> None:
        named = period_arg(ctx)
        figures = await figures_for(ctx.store.session, ctx.group, config, named.period, ctx.clock.now())
        names = await roster(ctx.store.session, ctx.group)
        t = ctx.t
        lines = [
            *board_lines(figures, names, t, POINTS_LIMIT),
            "",
            t("points.rules", **config.points.model_dump()),
        ]
        ctx.reply(
            "\n".join(lines),
            title=t("points.title", group=ctx.group.name, period=named.label(t)),
            format=Format.MARKDOWN,
        )

    @r.command(
        "points why", aliases=["积分 why", "积分 明细", "排行 why"], roles=Role.MEMBER,
        usage="/points why <@user> [period]", summary="help.points_why",
    )  # fmt: skip
    async def points_why(ctx: Ctx) -> None:
        named = period_arg(ctx)
        figures = await figures_for(ctx.store.session, ctx.group, config, named.period, ctx.clock.now())
        names = await roster(ctx.store.session, ctx.group)
        zone = group_zone(ctx.group, config)
        t = ctx.t
        user = ctx.args.users[0]
        name = person(user.id, names).display if user.id in names else user.display
        awards = figures.awards_of(user.id)
        if not awards:
            ctx.reply(t("points.why_none", name=name, period=named.label(t)))
            return
        total = sum(a.points for a in awards)
        lines = [
            t("points.why_line", at=local_time(a.at, zone), number=a.number, rule=t(f"rule.{a.rule}"), points=a.points)
            for a in awards[:WHY_LIMIT]
        ]
        if len(awards) > WHY_LIMIT:
            lines.append(t("points.why_more", count=len(awards) - WHY_LIMIT))
        ctx.reply(
            "\n".join(lines),
            title=t("points.why_title", name=name, period=named.label(t), total=total),
            format=Format.MARKDOWN,
        )

    return r
