"""Duty rotation (值班): who is on duty, handovers at rotation time, the default owner of requests.

``/duty set @a @b @c [every mon 09:00]`` stores the rotation (weekly on a weekday, or ``every day``),
``/duty`` says who is on duty now and next, ``/duty swap @a @b`` swaps two places, ``/duty off`` ends it.
The turn passes on a database timer (kind ``duty.rotate``, key ``duty:{group_id}``) at the slot in the
group's time zone; a ``workdays`` group hands over at the next working minute. Each handover is posted
to the group with both people mentioned and recorded as a ``duty.handover`` event. After downtime the
turn passes once, late, not once per missed slot.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.config import Config
from hubao.bot.events import Lane, OutboundMessage
from hubao.bot.i18n import Catalog
from hubao.bot.router import CommandContext, Role, Router, UsageError
from hubao.handlers.common import audit, group_id, group_zone, local_time, person, roster
from hubao.handlers.reports import catalog_for
from hubao.handlers.weekly import WEEKDAYS
from hubao.scheduler import timers
from hubao.scheduler.calendar import ALWAYS, Calendar
from hubao.storage import records, repo
from hubao.storage import schedule as schedule_store
from hubao.storage.models import DutyRoster, Timer
from hubao.storage.records import GroupRecord
from hubao.storage.tx import Tx

Ctx = CommandContext[Tx]
CalendarFor = Callable[[GroupRecord], Calendar]
KIND = "duty.rotate"
DEFAULT_EVERY = "mon 09:00"
DAILY = ("day", "daily", "每天", "每日")
MAX_ROTA = 30
_SLOT = re.compile(r"^\s*(\S+?)\s*(\d{1,2})[:：](\d{2})\s*$")


def parse_every(text: str) -> str:
    """``"mon 09:00"`` / ``"周一 9:00"`` / ``"day 09:00"`` → the stored form; ValueError if unreadable."""
    match = _SLOT.match(text)
    if not match:
        raise ValueError(text)
    word, hour, minute = match.group(1).lower(), int(match.group(2)), int(match.group(3))
    if hour > 23 or minute > 59:
        raise ValueError(text)
    if word in DAILY:
        return f"day {hour:02d}:{minute:02d}"
    if word not in WEEKDAYS:
        raise ValueError(text)
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return f"{names[WEEKDAYS[word]]} {hour:02d}:{minute:02d}"


def next_rotation_at(every: str, after: datetime, zone: ZoneInfo, calendar: Calendar) -> datetime:
    """The first rotation slot strictly after ``after`` (UTC), in the group's zone and calendar."""
    word, _, clock = every.partition(" ")
    hour, minute = (int(x) for x in clock.split(":"))
    at = time(hour, minute)
    day = after.astimezone(zone).date()
    step = timedelta(days=1) if word == "day" else timedelta(days=7)
    if word != "day":
        day += timedelta(days=(WEEKDAYS[word] - day.weekday()) % 7)
    day -= step
    while True:
        moment = calendar.next_open(datetime.combine(day, at, zone).astimezone(UTC))
        if moment > after:
            return moment
        day += step


def duty_key(gid: int) -> str:
    return f"duty:{gid}"


async def roster_of(session: AsyncSession, gid: int) -> DutyRoster | None:
    return await session.get(DutyRoster, gid)


async def on_duty(session: AsyncSession, gid: int) -> str | None:
    """The user id on duty in the group now, if it keeps a rotation."""
    rota = await roster_of(session, gid)
    if rota is None or not rota.members:
        return None
    return rota.members[rota.position % len(rota.members)]


def _every_words(words: tuple[str, ...]) -> str | None:
    """The slot written after ``every``/``每``, or None when none was written."""
    lowered = [w.lower() for w in words]
    for marker in ("every", "每周", "每"):
        if marker in lowered:
            return " ".join(words[lowered.index(marker) + 1 :])
    if words and words[0].startswith(("每周", "每天", "每日")):  # 每周一 09:00, 每天 09:00
        first = words[0]
        rest = first[2:] if first.startswith("每周") else "day"
        return " ".join([rest, *words[1:]])
    return " ".join(words) if words else None


def router(config: Config, calendar_for: CalendarFor = lambda _g: ALWAYS) -> Router:
    r = Router()

    @r.command("duty", aliases=["值班"], roles=Role.MEMBER, usage="/duty", summary="help.duty")
    async def show(ctx: Ctx) -> None:
        gid = group_id(ctx.group)
        rota = await roster_of(ctx.store.session, gid)
        if rota is None or not rota.members:
            ctx.reply(ctx.t("duty.none"))
            return
        ctx.reply(await _describe(ctx, rota))

    @r.command(
        "duty set",
        aliases=["值班 set", "值班 设置"],
        roles=Role.LEADER,
        usage="/duty set <@user…> [every mon 09:00]",
        summary="help.duty_set",
    )
    async def set_rota(ctx: Ctx) -> None:
        people = list(dict.fromkeys(ctx.args.users))
        if len(people) > MAX_ROTA:
            raise UsageError(ctx.t("duty.too_many", max=MAX_ROTA))
        written = _every_words(ctx.args.words)
        try:
            every = parse_every(written) if written else DEFAULT_EVERY
        except ValueError:
            raise UsageError(ctx.t("duty.bad_every", text=(written or "")[:30])) from None
        now = ctx.clock.now()
        gid = group_id(ctx.group)
        for user in people:
            await records.enrol(ctx.store, gid, user.id, user.name, now)
        rota = await roster_of(ctx.store.session, gid)
        if rota is None:
            rota = DutyRoster(group_id=gid, since=now, updated_by=ctx.event.sender.id, updated_at=now)
        rota.members, rota.position, rota.every, rota.since = [u.id for u in people], 0, every, now
        rota.updated_by, rota.updated_at = ctx.event.sender.id, now
        ctx.store.session.add(rota)
        await ctx.store.session.flush()
        await _schedule(ctx.store.session, ctx.group, rota, config, calendar_for, now)
        await audit(ctx, "duty.set", {"members": rota.members, "every": every})
        ctx.reply(ctx.t("duty.set") + "\n" + await _describe(ctx, rota), mentions=[people[0]])

    @r.command(
        "duty swap",
        aliases=["值班 swap", "值班 换班"],
        roles=Role.LEADER,
        usage="/duty swap <@a> <@b>",
        summary="help.duty_swap",
    )
    async def swap(ctx: Ctx) -> None:
        gid = group_id(ctx.group)
        rota = await roster_of(ctx.store.session, gid)
        if rota is None or not rota.members:
            ctx.reply(ctx.t("duty.none"))
            return
        if len(ctx.args.users) != 2 or ctx.args.users[0].id == ctx.args.users[1].id:
            raise UsageError(ctx.t("duty.swap_two"))
        a, b = ctx.args.users
        members = list(rota.members)
        missing = [u.display for u in (a, b) if u.id not in members]
        if len(missing) == 2:
            raise UsageError(ctx.t("duty.not_in_rota", who=ctx.t("role.join").join(missing)))
        now = ctx.clock.now()
        if len(missing) == 1:  # someone outside the rota takes the other's turns
            inside, outside = (a, b) if a.id in members else (b, a)
            await records.enrol(ctx.store, gid, outside.id, outside.name, now)
            members[members.index(inside.id)] = outside.id
        else:
            i, j = members.index(a.id), members.index(b.id)
            members[i], members[j] = members[j], members[i]
        rota.members, rota.updated_by, rota.updated_at = members, ctx.event.sender.id, now
        ctx.store.session.add(rota)
        await ctx.store.session.flush()
        await audit(ctx, "duty.swap", {"a": a.id, "b": b.id, "members": members})
        ctx.reply(ctx.t("duty.swapped") + "\n" + await _describe(ctx, rota))

    @r.command(
        "duty off", aliases=["值班 off", "值班 关闭"], roles=Role.LEADER, usage="/duty off", summary="help.duty_off"
    )
    async def off(ctx: Ctx) -> None:
        gid = group_id(ctx.group)
        rota = await roster_of(ctx.store.session, gid)
        if rota is None:
            ctx.reply(ctx.t("duty.none"))
            return
        await ctx.store.session.delete(rota)
        await ctx.store.session.flush()
        await timers.cancel(ctx.store.session, duty_key(gid))
        await audit(ctx, "duty.off", {"members": list(rota.members)})
        ctx.reply(ctx.t("duty.off"))

    async def _describe(ctx: Ctx, rota: DutyRoster) -> str:
        names = await roster(ctx.store.session, ctx.group)
        zone = group_zone(ctx.group, config)
        now_id = rota.members[rota.position % len(rota.members)]
        next_id = rota.members[(rota.position + 1) % len(rota.members)]
        timer = await schedule_store.get_timer(ctx.store.session, duty_key(group_id(ctx.group)))
        until = local_time(timer.due_at, zone) if timer is not None else "—"
        order = " → ".join(person(u, names).display for u in rota.members)
        return ctx.t(
            "duty.now",
            now=person(now_id, names).display,
            next=person(next_id, names).display,
            at=until,
            every=_every_text(rota.every, ctx.t),
            order=order,
        )

    return r


def _every_text(every: str, t: Catalog) -> str:
    word, _, clock = every.partition(" ")
    return t(f"duty.every_{word}", at=clock)


async def _schedule(
    session: AsyncSession, group: GroupRecord, rota: DutyRoster, config: Config, calendar_for: CalendarFor,
    now: datetime,
) -> None:
    await timers.schedule(
        session,
        kind=KIND,
        key=duty_key(rota.group_id),
        due_at=next_rotation_at(rota.every, now, group_zone(group, config), calendar_for(group)),
        now=now,
        group_id=rota.group_id,
    )


def register_timers(sweep: timers.TimerSweep, config: Config, calendar_for: CalendarFor) -> None:
    """The turn passes at each slot: the next member is on duty and the handover is posted."""

    async def rotate(session: AsyncSession, timer: Timer, now: datetime) -> datetime | None:
        group = await repo.get_group_by_id(session, timer.group_id or 0)
        rota = await session.get(DutyRoster, timer.group_id or 0, with_for_update=True)
        if group is None or rota is None or not rota.members:
            return None
        before = rota.members[rota.position % len(rota.members)]
        rota.position = (rota.position + 1) % len(rota.members)
        rota.since = now
        session.add(rota)
        after = rota.members[rota.position]
        next_id = rota.members[(rota.position + 1) % len(rota.members)]
        names = await roster(session, group)
        t = catalog_for(group, config)
        following = next_rotation_at(rota.every, now, group_zone(group, config), calendar_for(group))
        text = t(
            "duty.handover",
            before=person(before, names).display,
            now=person(after, names).display,
            next=person(next_id, names).display,
            at=local_time(following, group_zone(group, config)),
        )
        message = OutboundMessage(
            platform=group.platform,
            chat_id=group.chat_id,
            text=text,
            mentions=tuple(dict.fromkeys([person(after, names), person(before, names)])),
            lane=Lane.DIGEST,
        )
        await timers.queue_messages(session, timer, [message], now)
        await repo.add_event(
            session, group_id=group.id or 0, risk_id=None, actor_id="system", kind="duty.handover", at=now,
            data={"from": before, "to": after},
        )  # fmt: skip
        return following

    sweep.register(KIND, rotate)
