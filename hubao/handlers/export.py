"""Export of a group's risks, events, metrics and points for a period (quarterly evaluation).

Nine tables — ``risks``, ``events``, ``metrics``, ``members``, ``points``, and of the rest of the
routine ``goals``, ``register``, ``surveys`` (anonymous aggregates only) and ``drills`` — written as one XLSX
workbook (a sheet each) or as a ZIP of CSV files (UTF-8 with BOM, so Excel reads Chinese).
Times are ISO 8601 in the group's time zone, with the offset. Nothing from the configuration
is written, and cells that a spreadsheet would run as a formula are quoted.

Reached three ways: ``hubao export`` on the command line; ``/admin export [from] [to]``, which
answers with a time-limited download link signed with HMAC-SHA256 (``[export] secret``) when
``server.public_url`` is set; and ``GET /export/{token}`` serving that link.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import hmac
import io
import json
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from openpyxl import Workbook
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.clock import Clock
from hubao.bot.config import Config
from hubao.bot.router import CommandContext, Role, Router, UsageError
from hubao.handlers import goals, survey
from hubao.handlers.common import group_id, group_zone, roster
from hubao.handlers.metrics import Figures, MemberFigures, Period, PointRules, compute
from hubao.handlers.reports import MAX_YEAR, MIN_YEAR, local_midnight, parse_day
from hubao.storage import repo
from hubao.storage import reports as report_store
from hubao.storage import routine as routine_store
from hubao.storage.db import Database
from hubao.storage.models import Group, Risk, RiskEvent
from hubao.storage.reports import load_history
from hubao.storage.tx import Tx

Ctx = CommandContext[Tx]
FORMATS = ("xlsx", "csv")
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "application/zip",
}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    header: tuple[str, ...]
    rows: list[list[Any]]


def _iso(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat(sep=" ", timespec="seconds") if moment is not None else ""


def _minutes(delta: timedelta | None) -> float | str:
    return round(delta.total_seconds() / 60, 1) if delta is not None else ""


def _rate(value: float | None) -> float | str:
    return round(value, 4) if value is not None else ""


def period_of_days(first: date, last: date, zone: ZoneInfo) -> Period:
    """``first`` to ``last``, both days included, in ``zone``."""
    return Period(local_midnight(first, zone), local_midnight(last + timedelta(days=1), zone))


async def build_tables(
    session: AsyncSession, group: Group, config: Config, period: Period, now: datetime
) -> list[Table]:
    gid = group_id(group)
    zone = group_zone(group, config)
    risks, events = await load_history(session, [gid], period.start, period.end, whole_rows=True)
    history = events.get(gid, [])
    figures = compute(risks[gid], history, period, now, PointRules.from_config(config.points))
    names = {uid: user.name for uid, user in (await roster(session, group)).items()}
    in_period = sorted((e for e in history if e.at in period), key=lambda e: (e.at, e.id or 0))
    touched = {e.risk_id for e in in_period}
    # An award can name an earlier event (a comment that helped, from before the period): the
    # events sheet carries those too, marked as outside the period.
    referenced = {a.event_id for a in figures.awards} - {e.id for e in in_period}
    earlier = [e for e in history if e.id in referenced]
    shown = sorted([*in_period, *earlier], key=lambda e: (e.at, e.id or 0))
    chosen = sorted((r for r in risks[gid] if r.id in touched), key=lambda r: r.number)
    numbers = {r.id: r.number for r in risks[gid]}
    goal_events = await routine_store.group_events(session, gid, "goal.", until=period.end)
    goal_figures = goals.goal_figures(goal_events, period, now)
    return [
        _risks_table(chosen, names, zone, _first_answers(history)),
        _events_table(shown, numbers, names, zone, period),
        _metrics_table(figures, zone, goal_figures),
        _members_table(figures, names),
        _points_table(figures, names, zone),
        *await routine_tables(session, gid, names, zone, period, goal_events, goal_figures, numbers),
    ]


def _first_answers(events: Sequence[RiskEvent]) -> dict[int | None, RiskEvent]:
    """Per risk, the first acknowledgement (or resolution, which answers it too): who answered the reminder."""
    first: dict[int | None, RiskEvent] = {}
    for event in sorted(events, key=lambda e: (e.at, e.id or 0)):
        if event.kind in ("acknowledged", "resolved"):
            first.setdefault(event.risk_id, event)
    return first


async def routine_tables(
    session: AsyncSession, gid: int, names: dict[str, str], zone: ZoneInfo, period: Period,
    goal_events: Sequence[RiskEvent], goal_figures: goals.GoalFigures, numbers: dict[int | None, int],
) -> list[Table]:
    """The sheets of the rest of the routine: goals, the register, surveys (anonymous) and drills."""
    states = goals.replay(goal_events, period.end)
    achieved = {g.number for g in goal_figures.achieved}
    due = {g.number for g in goal_figures.due}
    goal_rows = [
        [g.number, g.text, g.owner_id or "", names.get(g.owner_id or "", ""), _iso(g.due, zone), g.status,
         _iso(g.closed_at, zone), g.number in due, g.number in achieved]
        for g in sorted(states.values(), key=lambda g: g.number)
    ]  # fmt: skip
    triggered = Counter(
        int(e.data.get("number", 0)) for e in await routine_store.group_events(session, gid, "register.triggered",
                                                                               until=period.end)
        if e.at in period
    )  # fmt: skip
    register_rows = [
        [e.number, e.name, e.level, e.trigger, e.response, e.owner_id or "", names.get(e.owner_id or "", ""),
         _iso(e.created_at, zone), _iso(e.reviewed_at, zone), _iso(e.removed_at, zone), triggered[e.number]]
        for e in await routine_store.all_register_entries(session, gid)
    ]  # fmt: skip
    survey_rows: list[list[Any]] = []
    for held in await routine_store.surveys_between(session, gid, period.start, period.end):
        results = await survey.results_of(session, held)
        row: list[Any] = [held.number, held.title, _iso(held.started_at, zone), _iso(held.closed_at, zone),
                          results.respondents, results.members]  # fmt: skip
        for question in results.questions:
            average = round(question.average, 2) if question.average is not None else ""
            row += [question.answers, average, *(question.counts[s] for s in survey.SCORES)]
        survey_rows.append([*row, len(results.comments)])
    drill_rows: list[list[Any]] = []
    for drill in await routine_store.incidents_between(session, [gid], period.start, period.end):
        if not drill.drill:
            continue  # real incidents are counted apart
        found = [e for e in await report_store.incident_entries(session, drill.id or 0) if e.kind == "finding"]
        drill_rows.append([_iso(drill.started_at, zone), _iso(drill.ended_at, zone), drill.title, drill.started_by,
                           names.get(drill.started_by, ""), drill.summary, len(found),
                           " ".join(f"#{e.data.get('risk')}" for e in found)])  # fmt: skip
    question_columns = [f"{q}_{part}" for q in survey.QUESTIONS
                        for part in ("answers", "average", *(f"score_{s}" for s in survey.SCORES))]  # fmt: skip
    return [
        Table("goals", ("number", "text", "owner", "owner_name", "due_at", "status", "closed_at", "due_in_period",
                        "achieved_by_due"), goal_rows),
        Table("register", ("number", "name", "level", "trigger", "response", "owner", "owner_name", "created_at",
                           "reviewed_at", "removed_at", "triggered_in_period"), register_rows),
        Table("surveys", ("number", "title", "started_at", "closed_at", "respondents", "members", *question_columns,
                          "comments"), survey_rows),
        Table("drills", ("started_at", "ended_at", "scenario", "started_by", "started_by_name", "summary",
                         "findings", "finding_risks"), drill_rows),
    ]  # fmt: skip


def _risks_table(
    risks: Sequence[Risk], names: dict[str, str], zone: ZoneInfo, answers: dict[int | None, RiskEvent]
) -> Table:
    # reporter → owner at created_at, and who answered (acked_by) when: the 互保责任书's evidence.
    header = (
        "number", "content", "level", "tags", "status", "source", "urgent", "reporter", "reporter_name", "owner",
        "owner_name", "created_at", "respond_by", "resolve_by", "acked_at", "resolved_at", "resolution",
        "likelihood", "impact", "score", "acked_by", "acked_by_name",
    )  # fmt: skip
    rows = [
        [
            r.number,
            r.content,
            r.level,
            " ".join(f"#{tag}" for tag in r.tags),
            r.status,
            r.source,
            r.urgent,
            r.reporter_id,
            names.get(r.reporter_id, ""),
            r.owner_id,
            names.get(r.owner_id, ""),
            _iso(r.created_at, zone),
            _iso(r.respond_by, zone),
            _iso(r.resolve_by, zone),
            _iso(r.acked_at, zone),
            _iso(r.resolved_at, zone),
            r.resolution,
            r.likelihood or "",
            r.impact or "",
            r.likelihood * r.impact if r.likelihood and r.impact else "",
            answers[r.id].actor_id if r.id in answers else "",
            names.get(answers[r.id].actor_id, "") if r.id in answers else "",
        ]
        for r in risks
    ]
    return Table("risks", header, rows)


def _events_table(
    events: Sequence[RiskEvent], numbers: dict[int | None, int], names: dict[str, str], zone: ZoneInfo, period: Period
) -> Table:
    header = ("event_id", "at", "risk_number", "kind", "actor", "actor_name", "data", "in_period")
    rows = [
        [
            e.id,
            _iso(e.at, zone),
            numbers.get(e.risk_id, ""),
            e.kind,
            e.actor_id,
            names.get(e.actor_id, ""),
            json.dumps(e.data or {}, ensure_ascii=False, sort_keys=True),
            e.at in period,
        ]
        for e in events
    ]
    return Table("events", header, rows)


def _metrics_table(figures: Figures, zone: ZoneInfo, goal_figures: goals.GoalFigures) -> Table:
    rows: list[list[Any]] = [
        ["period_start", _iso(figures.period.start, zone)],
        ["period_end", _iso(figures.period.end, zone)],
        ["as_of", _iso(figures.as_of, zone)],
        ["new", figures.new],
        ["resolved", figures.resolved],
        ["resolved_on_time", figures.resolved_on_time],
        ["on_time_rate", _rate(figures.on_time_rate)],
        ["collaborative_resolved", figures.collaborative],
        ["collaboration_rate", _rate(figures.collaboration_rate)],
        ["open", figures.open],
        ["overdue", len(figures.overdue)],
        ["overdue_rate", _rate(figures.overdue_rate)],
        ["responses", len(figures.response_times)],
        ["median_response_minutes", _minutes(figures.median_response)],
        ["p90_response_minutes", _minutes(figures.p90_response)],
        ["goals_due", len(goal_figures.due)],
        ["goals_achieved_by_due", len(goal_figures.achieved)],
        ["goal_achievement_rate", _rate(goal_figures.rate)],
    ]
    return Table("metrics", ("metric", "value"), rows)


def _members_table(figures: Figures, names: dict[str, str]) -> Table:
    header = (
        "user", "name", "reminders", "owned_new", "acknowledged", "acknowledged_late", "resolved_as_owner",
        "resolved_on_time", "open_now", "overdue_now", "median_response_minutes", "points",
    )  # fmt: skip
    users = list(dict.fromkeys([*names, *figures.members]))
    rows: list[list[Any]] = []
    for user in users:
        m = figures.members.get(user) or MemberFigures()
        rows.append(
            [
                user,
                names.get(user, ""),
                m.reported,
                m.owned_new,
                m.acked,
                m.acked_late,
                m.resolved,
                m.resolved_on_time,
                m.open,
                m.overdue,
                _minutes(m.median_response),
                m.points,
            ]
        )
    rows.sort(key=lambda row: (-row[-1], row[0]))
    return Table("members", header, rows)


def _points_table(figures: Figures, names: dict[str, str], zone: ZoneInfo) -> Table:
    header = ("at", "user", "name", "rule", "points", "risk_number", "event_id")
    rows = [
        [_iso(a.at, zone), a.user_id, names.get(a.user_id, ""), a.rule, a.points, a.number, a.event_id]
        for a in figures.awards
    ]
    return Table("points", header, rows)


def _safe(value: Any) -> Any:
    """Quote text a spreadsheet would evaluate as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_xlsx(tables: Sequence[Table]) -> bytes:
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for table in tables:
        sheet = book.create_sheet(table.name)
        sheet.append(list(table.header))
        for row in table.rows:
            sheet.append([_safe(v) for v in row])
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write_csv_zip(tables: Sequence[Table]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for table in tables:
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\r\n")
            writer.writerow(table.header)
            writer.writerows([_safe(v) for v in row] for row in table.rows)
            archive.writestr(f"{table.name}.csv", "\ufeff" + text.getvalue())
    return out.getvalue()


WRITERS: dict[str, Callable[[Sequence[Table]], bytes]] = {"xlsx": write_xlsx, "csv": write_csv_zip}


def file_name(group: Group, first: date, last: date, fmt: str) -> str:
    return f"hubao-{group.id}-{first:%Y%m%d}-{last:%Y%m%d}.{'zip' if fmt == 'csv' else 'xlsx'}"


async def export_bytes(
    session: AsyncSession, group: Group, config: Config, first: date, last: date, fmt: str, now: datetime
) -> bytes:
    period = period_of_days(first, last, group_zone(group, config))
    return WRITERS[fmt](await build_tables(session, group, config, period, now))


# --- signed links -----------------------------------------------------------------------
def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_link(secret: str, group: int, first: date, last: date, fmt: str, expires: datetime) -> str:
    payload = _b64(f"{group}|{first.isoformat()}|{last.isoformat()}|{fmt}|{int(expires.timestamp())}".encode())
    mac = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


@dataclass(frozen=True, slots=True)
class LinkRequest:
    group: int
    first: date
    last: date
    fmt: str


def verify_link(secret: str, token: str, now: datetime) -> LinkRequest | None:
    """The request a token stands for; None if forged, malformed or expired."""
    payload, _, mac = token.partition(".")
    if not secret or not payload or not mac or len(token) > 512:
        return None
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        group, first, last, fmt, expires = _unb64(payload).decode().split("|")
        if int(expires) < now.timestamp() or fmt not in FORMATS:
            return None
        return LinkRequest(int(group), date.fromisoformat(first), date.fromisoformat(last), fmt)
    except (ValueError, UnicodeDecodeError):
        return None


def routes(db: Database, config: Config, clock: Clock) -> list[web.RouteDef]:
    """``GET /export/{token}``: the file behind a link from ``/admin export``."""

    async def download(request: web.Request) -> web.StreamResponse:
        wanted = verify_link(config.export.secret, request.match_info["token"], clock.now())
        if wanted is None:
            raise web.HTTPForbidden(text="link invalid or expired\n")
        if wanted.last < wanted.first or not all(MIN_YEAR <= d.year <= MAX_YEAR for d in (wanted.first, wanted.last)):
            raise web.HTTPBadRequest(text=f"the days must be in order, years {MIN_YEAR} to {MAX_YEAR}\n")
        async with db.transaction() as session:
            group = await session.get(Group, wanted.group)
            if group is None:
                raise web.HTTPNotFound(text="no such group\n")
            body = await export_bytes(session, group, config, wanted.first, wanted.last, wanted.fmt, clock.now())
        name = file_name(group, wanted.first, wanted.last, wanted.fmt)
        return web.Response(
            body=body,
            content_type=CONTENT_TYPES[wanted.fmt],
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )

    return [web.get("/export/{token}", download)]


# --- /admin export ----------------------------------------------------------------------
def default_range(now: datetime, zone: ZoneInfo) -> tuple[date, date]:
    """From the first day of the current quarter to today."""
    today = now.astimezone(zone).date()
    return date(today.year, (today.month - 1) // 3 * 3 + 1, 1), today


def router(config: Config) -> Router:
    r = Router()

    @r.command(
        "admin export",
        aliases=["管理 export", "管理 导出"],
        roles=Role.ADMIN,
        usage="/admin export [from] [to] [xlsx|csv]",
        summary="help.admin_export",
    )
    async def admin_export(ctx: Ctx) -> None:
        zone = group_zone(ctx.group, config)
        now = ctx.clock.now()
        words = [w.lower() for w in ctx.args.words]
        fmt = next((w for w in words if w in FORMATS), "xlsx")
        days = [w for w in words if w not in FORMATS]
        first, last = default_range(now, zone)
        try:
            if len(days) > 2:
                raise ValueError(days[2])
            if days:
                first = parse_day(days[0])
            if len(days) > 1:
                last = parse_day(days[1])
        except ValueError as exc:
            raise UsageError(ctx.t("export.bad_day")) from exc
        if last < first:
            raise UsageError(ctx.t("export.bad_order"))
        cli = ctx.t(
            "export.cli",
            group=f"{ctx.group.platform}:{ctx.group.chat_id}",
            first=first.isoformat(),
            last=last.isoformat(),
            fmt=fmt,
        )
        base = config.server.public_url.rstrip("/")
        if not base:
            ctx.reply(ctx.t("export.no_public_url") + "\n" + cli)
            return
        if not config.export.secret:
            ctx.reply(ctx.t("export.no_secret") + "\n" + cli)
            return
        expires = now + config.export.link_ttl
        token = sign_link(config.export.secret, group_id(ctx.group), first, last, fmt, expires)
        await repo.add_event(  # who handed out a download link, for which days — never the token
            ctx.store.session,
            group_id=group_id(ctx.group),
            risk_id=None,
            actor_id=ctx.event.sender.id,
            kind="admin.export",
            at=now,
            data={"first": first.isoformat(), "last": last.isoformat(), "format": fmt, "expires": expires.isoformat()},
            message_id=ctx.event.message_id,
        )
        ctx.reply(
            ctx.t(
                "export.link",
                first=first.isoformat(),
                last=last.isoformat(),
                url=f"{base}/export/{token}",
                expires=expires.astimezone(zone).strftime("%m-%d %H:%M"),
            )
        )

    return r


async def export_to_file(config: Config, group_ref: str, first: str, last: str, fmt: str, out: str | None) -> int:
    """``hubao export``: write the file, print its path; 2 with a message for bad arguments."""
    import sys
    from pathlib import Path

    from hubao.bot.clock import SystemClock
    from hubao.storage.reports import find_group

    try:
        first_day, last_day = parse_day(first), parse_day(last)
    except ValueError:
        print(f"hubao export: dates are written YYYY-MM-DD, years {MIN_YEAR} to {MAX_YEAR}", file=sys.stderr)
        return 2
    if last_day < first_day:
        print("hubao export: --to is before --from", file=sys.stderr)
        return 2
    db = Database(config.storage.url)
    try:
        async with db.transaction() as session:
            group = await find_group(session, group_ref)
            if group is None:
                print(f"hubao export: no group {group_ref!r} (use its id, platform:chat_id or name)", file=sys.stderr)
                return 2
            body = await export_bytes(session, group, config, first_day, last_day, fmt, SystemClock().now())
    finally:
        await db.dispose()
    path = Path(out or file_name(group, first_day, last_day, fmt))
    await asyncio.to_thread(path.write_bytes, body)
    print(path)
    return 0
