"""The web pages, mounted at ``/web`` by the composition root.

Every page but ``/web/open/<token>`` and the static files needs the session cookie that opening
a link sets; its grant names the group (or the organisation) it may see, and each group page
checks the group id of its URL against it before reading anything. Rendered with Jinja2 through
aiohttp-jinja2 (autoescaped); every asset ships in the package; the only script is a static file
that refreshes the board. Security headers go on every answer (see :func:`_security_headers`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web

from hubao.bot.clock import Clock
from hubao.bot.config import Config
from hubao.bot.events import User
from hubao.bot.i18n import LOCALES, Catalog
from hubao.handlers import cross_links, goals, register, survey
from hubao.handlers.assessment import assessment_text
from hubao.handlers.metrics import Period, PointRules, compute, group_figures
from hubao.handlers.quarter_period import quarter_label, quarter_period
from hubao.handlers.reports import figures_for, parse_period, week_of
from hubao.handlers.risks import describe_event
from hubao.storage import records
from hubao.storage import routine as routine_store
from hubao.storage import web as store
from hubao.storage.db import Database
from hubao.storage.models import Group
from hubao.storage.reports import load_history
from hubao.storage.tx import Tx
from hubao.web import links, views

log = logging.getLogger("hubao.web")

PACKAGE = Path(__file__).parent
COOKIE = "hubao_web"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
TREND_WEEKS = 12
HEAT_WEEKS = 8
ORG_RATE_DAYS = 28
MAX_QUERY_VALUE = 160


class Denied(Exception):
    """Answer with the 403 page; ``reason`` picks its sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _EventSay:
    """What :func:`hubao.handlers.risks.describe_event` reads of a command context: the catalogue."""

    t: Catalog


class _HideLinkTokens(logging.Filter):
    """An access log (off in ``hubao serve``, on in some set-ups) never shows a link's token."""

    _TOKEN = re.compile(r"(/web/open/)[^\s\"?]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/web/open/" in message:
            record.msg, record.args = self._TOKEN.sub(r"\1***", message), ()
        return True


_HIDE_TOKENS = _HideLinkTokens()


def application(db: Database, config: Config, clock: Clock) -> web.Application:
    """The pages as a sub-application (``application.add_subapp("/web", …)``)."""
    for name in ("aiohttp.access", "aiohttp.server", "aiohttp.web"):
        logging.getLogger(name).addFilter(_HIDE_TOKENS)  # the same filter object is added once
    app = web.Application(middlewares=[_security_headers])
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(PACKAGE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    pages = Pages(db, config, clock)
    app[PAGES] = pages
    app.router.add_get("/open/{token}", pages.open_link)
    app.router.add_get("/", pages.home)
    app.router.add_get("/g/{gid}/board", pages.board)
    app.router.add_get("/g/{gid}/risk/{number}", pages.risk)
    app.router.add_get("/g/{gid}/heatmap", pages.heatmap)
    app.router.add_get("/g/{gid}/trends", pages.trends)
    app.router.add_get("/g/{gid}/points", pages.points)
    app.router.add_get("/g/{gid}/routine", pages.routine)
    app.router.add_get("/org", pages.org)
    app.router.add_static("/static", PACKAGE / "static", append_version=False)
    return app


PAGES = web.AppKey("pages", object)


@web.middleware
async def _security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """CSP without inline script, no framing, no referrer; pages are never cached."""
    pages: Pages = request.app[PAGES]  # type: ignore[assignment]
    try:
        response = await handler(request)
    except Denied as exc:
        response = pages.denied(request, exc.reason)
    except web.HTTPNotFound:
        response = pages.not_found(request)
    except web.HTTPException as exc:
        exc.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    if "/static/" not in request.path:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


class Pages:
    def __init__(self, db: Database, config: Config, clock: Clock) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        # Pages link with the public address's path, so a reverse proxy may mount them under one.
        self.root = urlsplit(config.server.public_url).path.rstrip("/") + "/web"

    # --- sessions -------------------------------------------------------------------------
    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[Tx]:
        async with self.db.transaction() as session:
            yield await Tx.over(session)

    def _grant(self, request: web.Request) -> links.Grant:
        if not self.config.web.secret:
            raise Denied("off")
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            raise Denied("missing")
        try:
            return links.verify(self.config.web.secret, links.SESSION, cookie, self.clock.now())
        except links.Refusal as exc:
            raise Denied("missing" if exc.reason == "expired" else exc.reason) from None

    async def _checked(self, tx: Tx, grant: links.Grant) -> None:
        try:
            await links.check_generation(tx, grant)
        except links.Refusal as exc:
            raise Denied(exc.reason) from None

    def _group_id(self, request: web.Request, grant: links.Grant) -> int:
        raw = request.match_info["gid"]
        if not (raw.isascii() and raw.isdigit() and len(raw) < 10):
            raise web.HTTPNotFound()
        gid = int(raw)
        if not grant.allows(gid):
            raise Denied("other_group")
        return gid

    def _secure(self, request: web.Request) -> bool:
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return request.secure or forwarded == "https" or self.config.server.public_url.startswith("https://")

    async def open_link(self, request: web.Request) -> web.StreamResponse:
        """A link from the chat: check it, start a session bound to its scope, drop the token from the URL."""
        if not self.config.web.secret:
            raise Denied("off")
        now = self.clock.now()
        try:
            grant = links.verify(self.config.web.secret, links.LINK, request.match_info["token"], now)
        except links.Refusal as exc:
            raise Denied(exc.reason) from None
        async with self._reading() as tx:
            await self._checked(tx, grant)
        expires = min(grant.expires, int((now + self.config.web.session_ttl).timestamp()))
        session = links.Grant(grant.kind, grant.group_id, grant.generation, expires)
        target = f"{self.root}/org" if grant.kind == links.ORG else f"{self.root}/g/{grant.group_id}/board"
        response = web.Response(status=303, headers={"Location": target})
        response.set_cookie(
            COOKIE,
            links.sign(self.config.web.secret, links.SESSION, session),
            max_age=max(expires - int(now.timestamp()), 0),
            path=self.root,
            httponly=True,
            samesite="Lax",  # the first visit comes from the chat app, another site
            secure=self._secure(request),
        )
        response.headers.update(SECURITY_HEADERS)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def home(self, request: web.Request) -> web.StreamResponse:
        grant = self._grant(request)
        target = f"{self.root}/org" if grant.kind == links.ORG else f"{self.root}/g/{grant.group_id}/board"
        raise web.HTTPSeeOther(target)

    # --- rendering ------------------------------------------------------------------------
    def _catalog(self, locale: str | None) -> Catalog:
        return Catalog(locale if locale in LOCALES else self.config.bot.locale)

    def _zone(self, name: str | None) -> ZoneInfo:
        return ZoneInfo(name or self.config.bot.timezone)

    def _render(
        self, request: web.Request, template: str, t: Catalog, context: dict[str, Any], status: int = 200
    ) -> web.Response:
        base = {"t": t, "root": self.root, "lang": "zh-CN" if t.locale == "zh" else "en", "org": False,
                "group": None, "page": "", "as_of": ""}  # fmt: skip
        return aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)

    def denied(self, request: web.Request, reason: str) -> web.Response:
        return self._render(request, "denied.html", self._catalog(None), {"reason": reason}, status=403)

    def not_found(self, request: web.Request) -> web.Response:
        return self._render(request, "notfound.html", self._catalog(None), {}, status=404)

    async def _group_page(self, request: web.Request) -> tuple[links.Grant, int]:
        grant = self._grant(request)
        return grant, self._group_id(request, grant)

    async def _open_group(self, tx: Tx, grant: links.Grant, gid: int) -> store.GroupInfo:
        await self._checked(tx, grant)
        group = await store.group_info(tx, gid)
        if group is None:
            raise web.HTTPNotFound()
        return group

    def _frame(self, grant: links.Grant, group: store.GroupInfo, page: str, now: datetime, zone: ZoneInfo
               ) -> dict[str, Any]:  # fmt: skip
        return {"group": group, "org": grant.kind == links.ORG, "page": page,
                "as_of": f"{now.astimezone(zone):%Y-%m-%d %H:%M}", "base": f"{self.root}/g/{group.id}"}  # fmt: skip

    # --- pages ----------------------------------------------------------------------------
    async def board(self, request: web.Request) -> web.Response:
        grant, gid = await self._group_page(request)
        now = self.clock.now()
        filters = views.Filters(
            owner=_query(request, "owner"), tag=_query(request, "tag"),
            level=_query(request, "level") if _query(request, "level") in views.LEVELS else "",
        )  # fmt: skip
        async with self._reading() as tx:
            group = await self._open_group(tx, grant, gid)
            zone = self._zone(group.timezone)
            names = await store.member_names(tx, gid)
            risks = await store.open_risks(tx, gid)
            resolved = await store.resolved_since(tx, gid, week_of(now, zone).start)
        t = self._catalog(group.locale)
        context = {
            **self._frame(grant, group, "board", now, zone),
            "board": views.board(risks, resolved, names, filters, t, zone, now),
            "filters": filters,
            "columns": views.COLUMNS,
            "levels": views.LEVELS,
            "refresh": int(self.config.web.refresh.total_seconds()),
        }
        if request.query.get("fragment") == "1":
            return self._render(request, "board_body.html", t, context)
        return self._render(request, "board.html", t, context)

    async def risk(self, request: web.Request) -> web.Response:
        grant, gid = await self._group_page(request)
        raw = request.match_info["number"]
        if not (raw.isascii() and raw.isdigit() and len(raw) < 10):
            raise web.HTTPNotFound()
        now = self.clock.now()
        async with self._reading() as tx:
            group = await self._open_group(tx, grant, gid)
            found = await records.risk_by_number(tx, gid, int(raw))
            if found is None:
                raise web.HTTPNotFound()
            events = await store.risk_events(tx, gid, found.id)
            names = await store.member_names(tx, gid)
        t = self._catalog(group.locale)
        zone = self._zone(group.timezone)
        users = {uid: User(uid, name) for uid, name in names.items()}
        say = _EventSay(t)
        timeline = []
        for event in events:
            actor = t("actor.system") if event.actor_id == "system" else views.name_of(event.actor_id, names)
            what = describe_event(event.kind, event.data, users, say, zone)  # type: ignore[arg-type]
            extra: list[str] = []
            if event.kind == "escalated":
                pinged = [views.name_of(uid, names) for uid in event.data.get("to") or []]
                if event.data.get("all"):
                    pinged.insert(0, t("riskpage.pinged_all"))
                if pinged:
                    extra.append(t("riskpage.pinged", names=t("role.join").join(pinged)))
                if event.data.get("late_s"):
                    extra.append(t("riskpage.late", late=views.span_text(timedelta(seconds=event.data["late_s"]), t)))
            timeline.append({"at": views.local_time(event.at, zone), "actor": actor, "what": what, "extra": extra})
        context = {
            **self._frame(grant, group, "risk", now, zone),
            "card": views.card(found, names, t, zone, now),
            "risk": found,
            "assessment": assessment_text(found, t),
            "reporter": views.name_of(found.reporter_id, names),
            "times": {
                "created": views.local_time(found.created_at, zone),
                "acked": views.time_text(found.acked_at, zone, t),
                "resolved": views.time_text(found.resolved_at, zone, t),
            },
            "status": t(f"status.{found.status}"),
            "timeline": timeline,
        }
        return self._render(request, "risk.html", t, context)

    async def heatmap(self, request: web.Request) -> web.Response:
        grant, gid = await self._group_page(request)
        now = self.clock.now()
        chosen = _cell(request)
        async with self._reading() as tx:
            group = await self._open_group(tx, grant, gid)
            zone = self._zone(group.timezone)
            counts = await store.heat_counts(tx, gid)
            tags = await store.open_tags_and_levels(tx, gid)
            names = await store.member_names(tx, gid)
            weeks = views.weeks_back(now, zone, HEAT_WEEKS)
            missed = await store.missed_deadlines(tx, weeks[0].start, now, gid)
            cell_risks = await store.risks_in_cell(tx, gid, *chosen) if chosen else []
        t = self._catalog(group.locale)
        members = views.by_week(((owner, due) for _g, owner, due in missed), weeks, names, keep_all=True)
        top = max((c for row in members for c in row.counts), default=0)
        context = {
            **self._frame(grant, group, "heatmap", now, zone),
            "grid": views.grid(counts, self.config.assessment),
            "unassessed": len(tags) - sum(counts.values()),
            "chosen": chosen,
            "cell_cards": [views.card(r, names, t, zone, now) for r in cell_risks],
            "tag_rows": views.tag_levels(tags, t("heat.no_tag")),
            "levels": views.LEVELS,
            "weeks": [views.week_label(w, zone) for w in weeks],
            "members": members,
            "heat_class": lambda count: views.heat_class(count, top),
        }
        return self._render(request, "heatmap.html", t, context)

    async def trends(self, request: web.Request) -> web.Response:
        grant, gid = await self._group_page(request)
        now = self.clock.now()
        rules = PointRules.from_config(self.config.points)
        async with self.db.transaction() as session:
            tx = await Tx.over(session)
            group = await self._open_group(tx, grant, gid)
            zone = self._zone(group.timezone)
            weeks = views.weeks_back(now, zone, TREND_WEEKS)
            risks, events = await load_history(session, [gid], weeks[0].start, weeks[-1].end)
        history = events.get(gid, [])
        rows = [views.TrendWeek(views.week_label(w, zone), compute(risks[gid], history, w, now, rules)) for w in weeks]
        t = self._catalog(group.locale)
        labels = [row.label for row in rows]
        charts = [
            (t("trends.counts"), views.Chart([
                views.Series(t("trends.new"), "c1", [r.figures.new for r in rows]),
                views.Series(t("trends.resolved"), "c2", [r.figures.resolved for r in rows]),
                views.Series(t("trends.overdue"), "c3", [r.overdue for r in rows]),
            ], labels)),
            (t("trends.response"), views.Chart([
                views.Series(t("trends.median"), "c1", [views.hours(r.figures.median_response) for r in rows]),
                views.Series(t("trends.p90"), "c3", [views.hours(r.figures.p90_response) for r in rows]),
            ], labels)),
            (t("trends.rates"), views.Chart([
                views.Series(t("trends.on_time"), "c2", [views.percent(r.figures.on_time_rate) for r in rows]),
                views.Series(t("trends.collab"), "c1", [views.percent(r.figures.collaboration_rate) for r in rows]),
            ], labels)),
        ]  # fmt: skip
        context = {**self._frame(grant, group, "trends", now, zone), "rows": rows, "charts": charts,
                   "span": lambda d: views.span_text(d, t), "pct": views.percent}  # fmt: skip
        return self._render(request, "trends.html", t, context)

    async def points(self, request: web.Request) -> web.Response:
        grant, gid = await self._group_page(request)
        now = self.clock.now()
        async with self.db.transaction() as session:
            tx = await Tx.over(session)
            info = await self._open_group(tx, grant, gid)
            group = await session.get(Group, gid)
            assert group is not None
            zone = self._zone(info.timezone)
            names = await store.member_names(tx, gid)
            periods = [parse_period(which, now, zone) for which in ("this-week", "this-quarter")]
            figures = [await figures_for(session, group, self.config, p.period, now) for p in periods]
        t = self._catalog(info.locale)
        sections = []
        for named, found in zip(periods, figures, strict=True):
            board = [
                {"rank": rank, "name": views.name_of(user, names), "points": points,
                 "awards": [t("pointspage.award", at=views.local_time(a.at, zone), number=a.number,
                              rule=t(f"rule.{a.rule}"), points=a.points) for a in found.awards_of(user)]}
                for rank, (user, points) in enumerate(found.leaderboard(), start=1)
            ]  # fmt: skip
            stars = t("role.join").join(views.name_of(u, names) for u in found.stars())
            sections.append({"label": named.label(t), "board": board, "stars": stars})
        context = {**self._frame(grant, info, "points", now, zone), "sections": sections,
                   "rules": t("points.rules", **self.config.points.model_dump())}  # fmt: skip
        return self._render(request, "points.html", t, context)

    async def routine(self, request: web.Request) -> web.Response:
        """The 互保风险清单, the goals with this quarter's 目标达成率, and the latest evaluation's results."""
        grant, gid = await self._group_page(request)
        now = self.clock.now()
        async with self.db.transaction() as session:
            tx = await Tx.over(session)
            info = await self._open_group(tx, grant, gid)
            zone = self._zone(info.timezone)
            names = await store.member_names(tx, gid)
            entries = await routine_store.register_entries(session, gid)
            goal_rows = await routine_store.goals(session, gid)
            quarter = quarter_period(now, zone)
            rate = await goals.figures_of(session, gid, quarter, now)
            latest = await routine_store.open_survey(session, gid) or await routine_store.latest_closed_survey(
                session, gid
            )
            results = await survey.results_of(session, latest) if latest is not None else None
        t = self._catalog(info.locale)
        context = {
            **self._frame(grant, info, "routine", now, zone),
            "register": [
                {"number": e.number, "name": e.name, "level": t(f"level.{e.level}"), "level_key": e.level,
                 "trigger": e.trigger, "response": e.response,
                 "owner": views.name_of(e.owner_id, names) if e.owner_id else t("register.no_owner"),
                 "stale": register.is_stale(e, now, self.config)}
                for e in entries
            ],
            "goals": [
                {"number": g.number, "text": g.text,
                 "owner": views.name_of(g.owner_id, names) if g.owner_id else t("register.no_owner"),
                 "due": views.time_text(g.due_at, zone, t),
                 "status": t("goals.status_overdue" if g.status == "open" and g.due_at and g.due_at < now
                             else f"goals.status_{g.status}")}
                for g in goal_rows
            ],
            "quarter": quarter_label(quarter, zone),
            "rate": goals.rate_line(rate, t),
            "survey": latest,
            "survey_open": latest is not None and latest.closed_at is None,
            "results": survey.render_results(results, t, zone) if results is not None else [],
        }  # fmt: skip
        return self._render(request, "routine.html", t, context)

    async def org(self, request: web.Request) -> web.Response:
        grant = self._grant(request)
        if grant.kind != links.ORG:
            raise Denied("org_only")
        now = self.clock.now()
        zone = self._zone(None)
        period = Period(now - timedelta(days=ORG_RATE_DAYS), now + timedelta(microseconds=1))  # up to now, included
        weeks = views.weeks_back(now, zone, HEAT_WEEKS)
        async with self._reading() as tx:
            await self._checked(tx, grant)
            lines = await store.group_lines(tx, now)
            risks, events = await store.resolved_history(tx, period.start, period.end)
            missed = await store.missed_deadlines(tx, weeks[0].start, now)
            requests = cross_links.request_figures(await cross_links.request_rows(tx, period.start, period.end), now)
        # Only the resolution figures are read from these; open and overdue come from the query above.
        figures = group_figures({line.id: risks.get(line.id, []) for line in lines}, events, period, now,
                                PointRules.from_config(self.config.points))  # fmt: skip
        t = self._catalog(None)
        rows = [
            {"line": line, "on_time": views.percent(figures[line.id].on_time_rate),
             "collab": views.percent(figures[line.id].collaboration_rate),
             "last": views.time_text(line.last_activity, zone, t),
             "requests": requests.get(line.id, cross_links.RequestFigures())}
            for line in lines
        ]  # fmt: skip
        sort = _query(request, "sort") if _query(request, "sort") in views.SORT_KEYS else "overdue"
        descending = _query(request, "dir") != "asc"
        rows = _sorted(rows, sort, descending)
        labels = {str(line.id): line.name for line in lines}
        heat = views.by_week(((str(gid), due) for gid, _o, due in missed), weeks, labels, keep_all=False)
        top = max((c for row in heat for c in row.counts), default=0)
        context = {
            "org": True, "page": "org", "as_of": f"{now.astimezone(zone):%Y-%m-%d %H:%M}",
            "rows": rows, "sort": sort, "descending": descending, "sort_keys": views.SORT_KEYS,
            "sort_url": lambda key: f"{self.root}/org?" + urlencode(
                {"sort": key, "dir": "asc" if key == sort and descending else "desc"}),
            "weeks": [views.week_label(w, zone) for w in weeks], "heat": heat,
            "heat_class": lambda count: views.heat_class(count, top),
        }  # fmt: skip
        return self._render(request, "org.html", t, context)


def _query(request: web.Request, name: str) -> str:
    return request.query.get(name, "")[:MAX_QUERY_VALUE]


def _cell(request: web.Request) -> tuple[int, int] | None:
    likelihood, impact = _query(request, "l"), _query(request, "i")
    if likelihood in "12345" and impact in "12345" and len(likelihood) == len(impact) == 1:
        return int(likelihood), int(impact)
    return None


def _sorted(rows: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    def value(row: dict[str, Any]) -> Any:
        line = row["line"]
        return {
            "name": line.name, "open": line.open, "overdue": line.overdue, "on_time": row["on_time"],
            "collab": row["collab"], "last": line.last_activity,
        }[key]  # fmt: skip

    present = [r for r in rows if value(r) is not None]
    missing = [r for r in rows if value(r) is None]
    present.sort(key=lambda r: r["line"].name)
    present.sort(key=value, reverse=descending)
    return present + missing
