"""The weekly post of each group, on a database timer (kind ``weekly``, key ``weekly:{group_id}``).

When: the group's ``digest_at`` (else config ``digest.weekly``, default ``fri 17:00``) in the group's
time zone, plus a per-group jitter of whole minutes in [1, ``digest.jitter``] that is the same for
the same chat every week (a hash of platform and chat id) and never lands on :00 or :30 (Feishu
rejects bursts there). A ``workdays`` group whose slot falls outside working time posts at the next
working minute.

What: the weekly summary (:func:`summary_handler`, which the composition root registers for this
kind); :func:`hubao.handlers.reports.week_closed_by` picks the week (a Monday to Wednesday slot
covers the previous week). :func:`board_handler` posts just the board of open risks with the
overdue count, for a deployment that wants no figures. ``/admin digest`` calls
:func:`schedule_weekly` after changing ``Group.digest_at``; groups without a timer get one on the
next sweep (:func:`ensure_weekly`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.config import Config
from hubao.bot.events import Lane, OutboundMessage
from hubao.bot.i18n import Catalog
from hubao.handlers import reports
from hubao.handlers.common import group_zone, roster
from hubao.handlers.risks import render_board
from hubao.scheduler import timers
from hubao.scheduler.calendar import Calendar
from hubao.storage import records, repo
from hubao.storage import schedule as store
from hubao.storage.models import Group, Timer
from hubao.storage.records import GroupRecord
from hubao.storage.tx import Tx
from hubao.web import links as web_links

log = logging.getLogger("hubao.weekly")

KIND = "weekly"
WEEKDAYS = {
    "mon": 0, "monday": 0, "周一": 0, "星期一": 0,
    "tue": 1, "tuesday": 1, "周二": 1, "星期二": 1,
    "wed": 2, "wednesday": 2, "周三": 2, "星期三": 2,
    "thu": 3, "thursday": 3, "周四": 3, "星期四": 3,
    "fri": 4, "friday": 4, "周五": 4, "星期五": 4,
    "sat": 5, "saturday": 5, "周六": 5, "星期六": 5,
    "sun": 6, "sunday": 6, "周日": 6, "星期日": 6, "周天": 6, "星期天": 6,
}  # fmt: skip
_SLOT = re.compile(r"^\s*(\S+?)\s*(\d{1,2})[:：](\d{2})\s*$")


def parse_slot(text: str) -> tuple[int, time]:
    """``"fri 17:00"`` / ``"周五 17:00"`` → (4, 17:00); ValueError if unreadable."""
    match = _SLOT.match(text)
    if not match or match.group(1).lower() not in WEEKDAYS:
        raise ValueError(f"expected a weekday and a time such as 'fri 17:00', got {text!r}")
    hour, minute = int(match.group(2)), int(match.group(3))
    return WEEKDAYS[match.group(1).lower()], time(hour, minute)


def weekly_key(group: Group) -> str:
    return f"{KIND}:{group.id}"


def jitter_minutes(group: Group, jitter: timedelta) -> int:
    """Whole minutes in [1, jitter] (0 when jitter is under a minute), fixed per chat."""
    span = int(jitter.total_seconds() // 60)
    if span < 1:
        return 0
    digest = hashlib.sha256(f"{group.platform}:{group.chat_id}".encode()).digest()
    return 1 + int.from_bytes(digest[:8], "big") % span


def next_weekly_at(group: Group, config: Config, after: datetime, calendar: Calendar) -> datetime:
    """The first weekly slot of ``group`` strictly after ``after`` (UTC)."""
    try:
        weekday, at = parse_slot(group.digest_at or config.digest.weekly)
    except ValueError:
        log.warning("group %s: bad weekly slot %r; using %r", group.id, group.digest_at, config.digest.weekly)
        weekday, at = parse_slot(config.digest.weekly)
    zone = group_zone(group, config)
    shift = timedelta(minutes=jitter_minutes(group, config.digest.jitter))
    day = after.astimezone(zone).date() - timedelta(days=7)
    day += timedelta(days=(weekday - day.weekday()) % 7)
    while True:
        local = datetime.combine(day, at, zone) + shift
        if local.minute % 30 == 0:
            local += timedelta(minutes=1)
        moment = calendar.next_open(local.astimezone(UTC))
        if moment > after:
            return moment
        day += timedelta(days=7)


async def schedule_weekly(
    session: AsyncSession, group: Group, config: Config, now: datetime, calendar: Calendar
) -> Timer:
    """(Re)schedule ``group``'s weekly post to its next slot after ``now``."""
    return await timers.schedule(
        session,
        kind=KIND,
        key=weekly_key(group),
        due_at=next_weekly_at(group, config, now, calendar),
        now=now,
        group_id=group.id,
    )


async def ensure_weekly(
    session: AsyncSession, config: Config, now: datetime, calendar_for: Callable[[GroupRecord], Calendar]
) -> int:
    """Give every group that lacks one its weekly timer; returns how many were added."""
    added = 0
    for group in await store.groups_without_timer(session, KIND):
        await schedule_weekly(session, group, config, now, calendar_for(group))
        added += 1
    return added


def board_handler(config: Config, calendar_for: Callable[[GroupRecord], Calendar]) -> timers.TimerHandler:
    """The ``weekly`` timer handler that posts the board of open risks."""

    async def post_board(session: AsyncSession, timer: Timer, now: datetime) -> datetime | None:
        group = await repo.get_group_by_id(session, timer.group_id or 0)
        if group is None:
            return None
        t = Catalog(group.locale or config.bot.locale)
        risks = await records.board(await Tx.over(session), group.id or 0, limit=1000)
        names = await roster(session, group)
        zone = group_zone(group, config)
        lines = [t("weekly.title", group=group.name), render_board(risks, names, t, zone, "open", now)]
        if (url := await web_links.group_link(await Tx.over(session), config, group.id or 0, now)) is not None:
            lines.append(t("web.footer", url=url))
        overdue = sum(1 for r in risks if r.resolve_by < now)
        if overdue:
            lines.append(t("weekly.overdue", count=overdue))
        message = OutboundMessage(platform=group.platform, chat_id=group.chat_id, text="\n".join(lines),
                                  lane=Lane.DIGEST)  # fmt: skip
        await repo.enqueue(session, [(timers.message_key(timer), message.to_json(), int(Lane.DIGEST))], now=now)
        return next_weekly_at(group, config, now, calendar_for(group))

    return post_board


def summary_handler(config: Config, calendar_for: Callable[[GroupRecord], Calendar]) -> timers.TimerHandler:
    """The ``weekly`` timer handler that posts the weekly summary (what ``hubao serve`` registers)."""

    async def post_summary(session: AsyncSession, timer: Timer, now: datetime) -> datetime | None:
        group = await repo.get_group_by_id(session, timer.group_id or 0)
        if group is None:
            return None
        summaries = await reports.weekly_summaries(session, [group], config, now, slot=timer.due_at)
        await timers.queue_messages(session, timer, list(summaries.values()), now)
        return next_weekly_at(group, config, now, calendar_for(group))

    return post_summary
