"""Group goals (互保小组目标) and 目标达成率.

``/goal add <text> [due:<date>] [@owner]`` (leader, admin) sets goal ``Gn``; ``/goal done <Gn>
[note]`` (any member) marks it achieved; ``/goal drop <Gn> [reason]`` (leader, admin) abandons it;
``/goal list`` (``/goal``) shows them. Every change is an audited event (``goal.added``,
``goal.done``, ``goal.dropped``) and the figures are replayed from those events, never from the
goals table (which only serves the list):

**目标达成率** of a period = goals achieved by their due time ÷ goals due in the period, where a
goal counts as due in ``[start, end)`` when its due time falls there and its outcome is known at
``as_of = min(end, now)`` — it is past due, or already achieved. Goals dropped before their due
time are not counted; one dropped after it counts as missed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.config import Config
from hubao.bot.i18n import Catalog
from hubao.bot.router import CommandContext, Role, Router, UsageError
from hubao.bot.timeparse import DeadlineError, explain_deadline, parse_deadline
from hubao.handlers.common import MAX_CONTENT, audit, group_id, group_zone, local_time, person, roster
from hubao.handlers.metrics import Period
from hubao.handlers.quarter_period import quarter_period
from hubao.storage import records, repo
from hubao.storage import routine as store
from hubao.storage.models import Goal
from hubao.storage.tx import Tx

Ctx = CommandContext[Tx]
GOAL_MAX = 300
SOON = timedelta(days=14)
SOON_LIMIT = 5
LIST_LIMIT = 30
END_OF_DAY = time(23, 59)
_NUMBER = re.compile(r"^[Gg](\d{1,6})$")


@dataclass
class GoalState:
    number: int
    text: str
    owner_id: str | None
    due: datetime | None
    status: str = "open"
    closed_at: datetime | None = None


@dataclass
class GoalFigures:
    period: Period
    as_of: datetime
    due: list[GoalState] = field(default_factory=list)
    achieved: list[GoalState] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        return len(self.achieved) / len(self.due) if self.due else None


def replay(events: Iterable[Any], until: datetime) -> dict[int, GoalState]:
    """The goals as they stood at ``until``, from their ``goal.*`` events."""
    goals: dict[int, GoalState] = {}
    for event in sorted(events, key=lambda e: (e.at, e.id or 0)):
        if event.at > until:
            break
        data = event.data or {}
        number = int(data.get("number", 0))
        if event.kind == "goal.added":
            due = datetime.fromisoformat(data["due"]) if data.get("due") else None
            goals[number] = GoalState(number, str(data.get("text", "")), data.get("owner"), due)
        elif number in goals and event.kind in ("goal.done", "goal.dropped"):
            goals[number].status = "done" if event.kind == "goal.done" else "dropped"
            goals[number].closed_at = event.at
    return goals


def goal_figures(events: Iterable[Any], period: Period, now: datetime) -> GoalFigures:
    as_of = min(period.end, now)
    figures = GoalFigures(period, as_of)
    for goal in replay(events, as_of).values():
        if goal.due is None or goal.due not in period:
            continue
        if goal.status == "dropped" and goal.closed_at is not None and goal.closed_at <= goal.due:
            continue  # abandoned in time: not a goal of the period any more
        achieved = goal.status == "done" and goal.closed_at is not None and goal.closed_at <= goal.due
        if achieved or goal.due <= as_of:
            figures.due.append(goal)
            if achieved:
                figures.achieved.append(goal)
    return figures


async def figures_of(session: AsyncSession, gid: int, period: Period, now: datetime) -> GoalFigures:
    return goal_figures(await store.group_events(session, gid, "goal.", until=period.end), period, now)


def rate_line(figures: GoalFigures, t: Catalog, before: GoalFigures | None = None) -> str:
    rate = t("none") if figures.rate is None else f"{round(figures.rate * 100)}%"
    line = t("goals.rate", rate=rate, achieved=len(figures.achieved), due=len(figures.due))
    if before is not None:
        earlier = t("none") if before.rate is None else f"{round(before.rate * 100)}%"
        line += t("goals.rate_before", rate=earlier)
    return line


async def weekly_lines(
    session: AsyncSession, gid: int, period: Period, now: datetime, t: Catalog, zone: Any
) -> list[str]:
    """The weekly summary's section: 目标达成率 against the week before, and goals due soon."""
    events = await store.group_events(session, gid, "goal.")
    if not events:
        return []
    current, previous = goal_figures(events, period, now), goal_figures(events, period.previous(), now)
    lines = [t("goals.section"), "- " + rate_line(current, t, previous)]
    soon = sorted(
        (g for g in replay(events, now).values() if g.status == "open" and g.due is not None and g.due <= now + SOON),
        key=lambda g: (g.due or now, g.number),
    )
    names = {m.user_id: m for m in await repo.members(session, gid, active_only=False)}
    for goal in soon[:SOON_LIMIT]:
        owner = names[goal.owner_id].name if goal.owner_id in names else (goal.owner_id or "").split(":")[-1]
        key = "goals.overdue_line" if goal.due is not None and goal.due < now else "goals.soon_line"
        lines.append(t(key, number=goal.number, text=goal.text, due=local_time(goal.due or now, zone),
                       owner=owner or t("register.no_owner")))  # fmt: skip
    if len(soon) > SOON_LIMIT:
        lines.append(t("summary.more", count=len(soon) - SOON_LIMIT))
    return lines


def goal_number(word: str) -> int | None:
    m = _NUMBER.match(word.strip())
    return int(m.group(1)) if m else None


def router(config: Config) -> Router:
    r = Router()

    async def goal_of(ctx: Ctx) -> tuple[Goal, str]:
        words = list(ctx.args.words)
        number = goal_number(words[0]) if words else None
        if number is None:
            raise UsageError(ctx.t("goals.need_number"))
        goal = await store.goal(ctx.store.session, group_id(ctx.group), number)
        if goal is None:
            raise UsageError(ctx.t("goals.not_found", number=number))
        return goal, " ".join(words[1:])[:MAX_CONTENT]

    async def show_list(ctx: Ctx) -> None:
        goals = await store.goals(ctx.store.session, group_id(ctx.group))
        if not goals:
            ctx.reply(ctx.t("goals.empty"))
            return
        zone = group_zone(ctx.group, config)
        names = await roster(ctx.store.session, ctx.group)
        now = ctx.clock.now()
        lines = [ctx.t("goals.title", group=ctx.group.name, count=len(goals))]
        shown = sorted(goals, key=lambda g: ({"open": 0, "done": 1}.get(g.status, 2), g.number))
        for goal in shown[:LIST_LIMIT]:
            due = local_time(goal.due_at, zone) if goal.due_at else ctx.t("goals.no_due")
            owner = person(goal.owner_id, names).display if goal.owner_id else ctx.t("register.no_owner")
            status = ctx.t(f"goals.status_{goal.status}")
            if goal.status == "open" and goal.due_at is not None and goal.due_at < now:
                status = ctx.t("goals.status_overdue")
            lines.append(ctx.t("goals.line", number=goal.number, text=goal.text, due=due, owner=owner,
                               status=status))  # fmt: skip
        if len(goals) > LIST_LIMIT:
            lines.append(ctx.t("summary.more", count=len(goals) - LIST_LIMIT))
        quarter = quarter_period(now, zone)
        lines += ["", rate_line(await figures_of(ctx.store.session, group_id(ctx.group), quarter, now), ctx.t)
                  + ctx.t("goals.this_quarter")]  # fmt: skip
        ctx.reply("\n".join(lines))

    @r.command("goal", aliases=["目标"], roles=Role.MEMBER, usage="/goal [list]", summary="help.goal")
    async def goal_usage(ctx: Ctx) -> None:
        if ctx.args.text.strip().lower() not in ("", "list", "列表", "全部"):
            raise UsageError(ctx.t("goals.subcommands"))
        await show_list(ctx)

    @r.command(
        "goal add",
        aliases=["目标 add", "目标 添加"],
        roles=Role.LEADER | Role.ADMIN,
        usage="/goal add <text> [due:<date>] [@owner]",
        summary="help.goal_add",
    )
    async def add(ctx: Ctx) -> None:
        text = ctx.args.text.strip()
        if len(text) > GOAL_MAX:
            raise UsageError(ctx.t("risk.too_long", max=GOAL_MAX))
        now = ctx.clock.now()
        gid = group_id(ctx.group)
        zone = group_zone(ctx.group, config)
        due = None
        if ctx.args.due:
            try:
                due = parse_deadline(ctx.args.due, now, zone, day_default=END_OF_DAY)
            except DeadlineError as exc:
                raise UsageError(explain_deadline(exc, zone, ctx.t)) from exc
        owner = ctx.args.users[0] if ctx.args.users else None
        if owner is not None:
            await records.enrol(ctx.store, gid, owner.id, owner.name, now)
        goal = Goal(group_id=gid, number=await store.next_number(ctx.store.session, Goal, gid), text=text,
                    owner_id=owner.id if owner else None, due_at=due, created_by=ctx.event.sender.id,
                    created_at=now)  # fmt: skip
        ctx.store.session.add(goal)
        await ctx.store.session.flush()
        await audit(ctx, "goal.added", {"number": goal.number, "text": text, "owner": goal.owner_id,
                                        "due": due.isoformat() if due else None})  # fmt: skip
        due_text = local_time(due, zone) if due else ctx.t("goals.no_due")
        owner_text = owner.display if owner else ctx.t("register.no_owner")
        ctx.reply(ctx.t("goals.added", number=goal.number, text=text, due=due_text, owner=owner_text),
                  mentions=[owner] if owner else [])  # fmt: skip

    async def close(ctx: Ctx, status: str) -> None:
        goal, note = await goal_of(ctx)
        if goal.status != "open":
            ctx.reply(ctx.t("goals.already_closed", number=goal.number, status=ctx.t(f"goals.status_{goal.status}")))
            return
        now = ctx.clock.now()
        goal.status, goal.closed_at, goal.note = status, now, note
        ctx.store.session.add(goal)
        await ctx.store.session.flush()
        on_time = goal.due_at is None or now <= goal.due_at
        await audit(ctx, f"goal.{status}", {"number": goal.number, "note": note, "on_time": on_time})
        key = "goals.done" if status == "done" else "goals.dropped"
        if status == "done" and not on_time:
            key = "goals.done_late"
        ctx.reply(ctx.t(key, number=goal.number, text=goal.text))

    @r.command(
        "goal done",
        aliases=["目标 done", "目标 达成", "目标 完成"],
        roles=Role.MEMBER,
        usage="/goal done <Gn> [note]",
        summary="help.goal_done",
    )
    async def done(ctx: Ctx) -> None:
        await close(ctx, "done")

    @r.command(
        "goal drop",
        aliases=["目标 drop", "目标 放弃"],
        roles=Role.LEADER | Role.ADMIN,
        usage="/goal drop <Gn> [reason]",
        summary="help.goal_drop",
    )
    async def drop(ctx: Ctx) -> None:
        await close(ctx, "dropped")

    @r.command(
        "goal list",
        aliases=["目标 list", "目标 列表"],
        roles=Role.MEMBER,
        usage="/goal list",
        summary="help.goal_list",
    )
    async def listing(ctx: Ctx) -> None:
        await show_list(ctx)

    return r
