"""Cross-group requests as the asking group sees them: the link, the posts back, the outgoing list.

A request (:mod:`hubao.handlers.requests`) is a risk of the *target* group with a
:class:`~hubao.storage.models.CrossRequest` row naming the group that asked. This module holds
what the risk commands need of it without importing the request commands: each change of state
of a linked risk (acknowledged, resolved with its note, reopened) is posted back to the asking
group, ``/show`` names where a request came from, and ``/list`` shows a group's outgoing requests
apart from its own risks. The overdue post back is queued by the escalation sweep
(:mod:`hubao.handlers.escalation`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from hubao.bot.config import Config
from hubao.bot.events import Lane, OutboundMessage, User
from hubao.bot.i18n import Catalog
from hubao.handlers.access import enqueue_messages
from hubao.handlers.common import group_zone, level_label, local_time, person
from hubao.storage.models import CrossRequest, Group, Member, Risk
from hubao.storage.records import GroupRecord, RiskRecord
from hubao.storage.tx import Tx

MIRRORED = ("acknowledged", "resolved", "reopened")
OUTGOING_LIMIT = 20


def reference(group_name: str, number: int) -> str:
    """How the asking group refers to a request: ``仓储组#3``."""
    return f"{group_name}#{number}"


async def link_of(session: AsyncSession, risk_id: int) -> CrossRequest | None:
    return (await session.exec(select(CrossRequest).where(CrossRequest.risk_id == risk_id))).first()


async def mirror(
    session: AsyncSession, t_command: Catalog, risk: RiskRecord, kind: str, data: dict[str, object], actor: User,
    now: datetime, message_id: str | None,
) -> None:
    """Post a change of state of a requested risk back to the group that asked (once per change).

    Written in the asking group's locale, else in the one the command was answered in."""
    if kind not in MIRRORED or risk.id is None:
        return
    link = await link_of(session, risk.id)
    if link is None:
        return
    asker = await session.get(Group, link.from_group_id)
    target = await session.get(Group, link.to_group_id)
    if asker is None or target is None:
        return
    t = Catalog(asker.locale or t_command.locale)
    names = await names_of(session, [target.id or 0, asker.id or 0])
    who = person(actor.id, names).display if actor.id != "system" else t("actor.system")
    ref = reference(target.name, risk.number)
    if kind == "resolved":
        note = str(data.get("note") or "") or t("request.no_note")
        text = t("request.back_resolved", ref=ref, who=who, note=note, content=risk.content)
    else:
        text = t(f"request.back_{kind}", ref=ref, who=who, content=risk.content)
    requester = person(link.requested_by, names)
    message = OutboundMessage(
        platform=asker.platform, chat_id=asker.chat_id, text=text, mentions=(requester,), lane=Lane.REPLY
    )
    # One post per change: the key names the event that caused it.
    await enqueue_messages(session, [message], f"req:{risk.id}:{kind}:{message_id or now.isoformat()}", now)


async def origin_line(session: AsyncSession, risk_id: int, t: Catalog, zone: object) -> str | None:
    """For ``/show`` in the target group: which group asked, who, when."""
    link = await link_of(session, risk_id)
    if link is None:
        return None
    asker = await session.get(Group, link.from_group_id)
    names = await names_of(session, [link.from_group_id])
    return t(
        "request.line_from",
        group=asker.name if asker else "?",
        who=person(link.requested_by, names).display,
        at=local_time(link.created_at, zone),  # type: ignore[arg-type]
    )


_REFERENCE = re.compile(r"^(.+?)\s*[#＃](\d{1,9})$")


def parse_reference(text: str) -> tuple[str, int] | None:
    """``仓储组#3`` → ("仓储组", 3)."""
    match = _REFERENCE.match(text.strip())
    return (match.group(1).strip(), int(match.group(2))) if match else None


def _sent_by(group_id: int) -> Select[tuple[CrossRequest, Risk, Group]]:
    """The requests ``group_id`` sent, each with its risk and the group asked."""
    return (
        select(CrossRequest, Risk, Group)
        .join(Risk, col(Risk.id) == col(CrossRequest.risk_id))
        .join(Group, col(Group.id) == col(CrossRequest.to_group_id))
        .where(CrossRequest.from_group_id == group_id)
    )


async def outgoing_risk(
    session: AsyncSession, group_id: int, target_name: str, number: int
) -> tuple[CrossRequest, Risk, Group] | None:
    """The risk ``target_name#number`` if it is a request this group sent; None otherwise."""
    stmt = _sent_by(group_id).where(Risk.number == number)
    for link, risk, group in (await session.exec(stmt)).all():
        if group.name.lower() == target_name.lower() or group.chat_id == target_name:
            return link, risk, group
    return None


async def outgoing(
    session: AsyncSession, group_id: int, *, open_only: bool = True, limit: int = OUTGOING_LIMIT
) -> list[tuple[CrossRequest, Risk, Group]]:
    """The group's requests to other groups, newest first, with their risks and target groups."""
    stmt = _sent_by(group_id).order_by(col(CrossRequest.id).desc()).limit(limit)
    if open_only:
        stmt = stmt.where(col(Risk.status) != "resolved")
    return [(link, risk, group) for link, risk, group in (await session.exec(stmt)).all()]


async def outgoing_section(
    session: AsyncSession, group: GroupRecord, config: Config, t: Catalog, now: datetime, *, open_only: bool,
    overdue_only: bool = False,
) -> str | None:
    """The lines ``/list`` adds for the group's outgoing requests; None when there are none."""
    rows = await outgoing(session, group.id or 0, open_only=open_only)
    if overdue_only:
        rows = [row for row in rows if row[1].resolve_by < now]
    if not rows:
        return None
    zone = group_zone(group, config)
    names = await names_of(session, list({target.id or 0 for _, _, target in rows}))
    lines = [t("request.outgoing_title", count=len(rows))]
    for _link, risk, target in rows:
        flag = ""
        if risk.status == "resolved":
            flag = t("board.flag_resolved")
        elif risk.resolve_by < now:
            flag = t("board.flag_overdue")
        lines.append(
            t(
                "request.outgoing_line",
                ref=reference(target.name, risk.number),
                level=level_label(risk.level, t),
                content=risk.content if len(risk.content) <= 40 else risk.content[:39] + "…",
                owner=person(risk.owner_id, names).display,
                status=t(f"status.{risk.status}"),
                due=local_time(risk.resolve_by, zone),
                flag=flag,
            ).rstrip()
        )
    return "\n".join(lines)


async def names_of(session: AsyncSession, group_ids: Sequence[int]) -> dict[str, User]:
    stmt = select(Member).where(col(Member.group_id).in_(list(group_ids)))
    return {m.user_id: User(m.user_id, m.name) for m in (await session.exec(stmt)).all()}


# -- figures: the weekly summary and the organisation page ------------------------------------


@dataclass
class RequestFigures:
    """Cross-group requests of one group made in a period: those it sent and those it received.

    ``answered`` = acknowledged (or resolved) within the respond window; ``overdue`` = not resolved
    by its deadline (still open past it, or resolved late)."""

    sent: int = 0
    sent_answered: int = 0
    sent_overdue: int = 0
    received: int = 0
    received_answered: int = 0
    received_overdue: int = 0

    @property
    def any(self) -> bool:
        return bool(self.sent or self.received)


RequestRow = tuple[int, int, datetime, datetime, datetime | None, datetime, datetime | None]


async def request_rows(tx: Tx, start: datetime, end: datetime, group_id: int | None = None) -> list[RequestRow]:
    """(from group, to group, created, respond by, acknowledged, resolve by, resolved) of every
    request made in [start, end); only those ``group_id`` sent or received when it is given."""
    sql = (
        "SELECT c.from_group_id, c.to_group_id, r.created_at, r.respond_by, r.acked_at, r.resolve_by, "
        "r.resolved_at FROM cross_requests c JOIN risks r ON r.id = c.risk_id "
        "WHERE r.created_at >= ? AND r.created_at < ?"
    )
    params: list[object] = [tx.when(start), tx.when(end)]
    if group_id is not None:
        sql += " AND (c.from_group_id = ? OR c.to_group_id = ?)"
        params += [group_id, group_id]
    moment = tx.moment
    return [
        (int(a), int(b), moment(c) or start, moment(d) or start, moment(e), moment(f) or start, moment(g))
        for a, b, c, d, e, f, g in await tx.fetch(sql, *params)
    ]


def request_figures(rows: Sequence[RequestRow], now: datetime) -> dict[int, RequestFigures]:
    """Per group id, its sent and received requests among ``rows``."""
    out: dict[int, RequestFigures] = {}
    for sender, receiver, _created, respond_by, acked, resolve_by, resolved in rows:
        answered = acked is not None and acked <= respond_by
        overdue = (resolved is None and resolve_by < now) or (resolved is not None and resolved > resolve_by)
        mine = out.setdefault(sender, RequestFigures())
        mine.sent += 1
        mine.sent_answered += answered
        mine.sent_overdue += overdue
        theirs = out.setdefault(receiver, RequestFigures())
        theirs.received += 1
        theirs.received_answered += answered
        theirs.received_overdue += overdue
    return out


async def weekly_lines(session: AsyncSession, gid: int, start: datetime, end: datetime, now: datetime,
                       t: Catalog) -> list[str]:  # fmt: skip
    """The weekly summary's section on cross-group requests; none when the group had none."""
    figures = request_figures(await request_rows(await Tx.over(session), start, end, gid), now).get(gid)
    if figures is None or not figures.any:
        return []
    lines = [t("request.summary_section")]
    if figures.sent:
        lines.append(t("request.summary_sent", n=figures.sent, answered=figures.sent_answered,
                       overdue=figures.sent_overdue))  # fmt: skip
    if figures.received:
        lines.append(t("request.summary_received", n=figures.received, answered=figures.received_answered,
                       overdue=figures.received_overdue))  # fmt: skip
    return lines
