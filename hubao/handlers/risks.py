"""Risk commands: log, acknowledge, resolve, reopen, assign, note, snooze, list, show."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hubao.bot.config import Config
from hubao.bot.events import Lane, OutboundMessage, User
from hubao.bot.i18n import Catalog
from hubao.bot.router import CommandContext, Level, Role, Router, UsageError
from hubao.bot.timeparse import DeadlineError, explain_deadline, format_duration, parse_deadline, parse_duration
from hubao.handlers import cross_links, personal
from hubao.handlers.assessment import Assessment, assessment_text, level_of, read_assessment
from hubao.handlers.assessment import event_text as assessed_event_text
from hubao.handlers.common import (
    MAX_CONTENT,
    age_text,
    group_id,
    group_zone,
    level_label,
    local_time,
    person,
    risk_buttons,
    risk_summary,
)
from hubao.handlers.pledge import liability_line
from hubao.scheduler.calendar import ALWAYS, Calendar, Holidays, parse_work_hours
from hubao.scheduler.escalation import RiskView, due_at
from hubao.scheduler.policy import Policy, policy_for
from hubao.storage import records, repo
from hubao.storage.records import BoardRow, GroupRecord, RiskRecord, RiskRow
from hubao.storage.tx import Tx
from hubao.web import links as web_links

Ctx = CommandContext[Tx]
CalendarFor = Callable[[GroupRecord], Calendar]
LIST_LIMIT = 30


def router(
    config: Config,
    calendar_for: CalendarFor = lambda _g: ALWAYS,
    is_workday: Callable[[date], bool] | None = None,
) -> Router:
    """``is_workday`` decides "next-workday" for /snooze (the configured holidays file included)."""
    workday = is_workday or Holidays().is_workday
    r = Router()

    @r.command(
        "risk",
        aliases=["风险", "提醒"],
        roles=Role.MEMBER,
        usage="/risk <text> [@owner] [!高/!中/!低] [#tag] [due:<time>]",
        summary="help.risk",
        everyday=True,
    )
    async def log_risk(ctx: Ctx) -> None:
        found = read_assessment(ctx)
        level = ctx.args.level.value if ctx.args.level else level_of(found, config.assessment) if found else None
        await create_risk(ctx, config, calendar_for, level=level or Level.MEDIUM.value, urgent=False, assessment=found)

    @r.command(
        "urgent",
        aliases=["紧急"],
        roles=Role.MEMBER,
        usage="/urgent <text> [@owner]",
        summary="help.urgent",
        everyday=True,
    )
    async def urgent(ctx: Ctx) -> None:
        await create_risk(ctx, config, calendar_for, level=Level.HIGH.value, urgent=True)

    @r.command(
        "ack",
        aliases=["认领", "收到"],
        roles=Role.OWNER | Role.PARTNER | Role.LEADER,
        usage="/ack <#n>",
        summary="help.ack",
        everyday=True,
    )
    async def ack(ctx: Ctx) -> None:
        risk = await _risk(ctx)
        if risk.status == "resolved":
            ctx.reply(ctx.t("risk.already_resolved", number=risk.number))
            return
        if risk.acked_at is not None:
            ctx.reply(ctx.t("risk.already_acked", number=risk.number))
            return
        now = ctx.clock.now()
        risk.acked_at = now
        risk.status = "acknowledged"
        risk.next_step_at = _next_step_at(risk, calendar_for(ctx.group))
        await _save(ctx, risk, "acknowledged", {"late": now > risk.respond_by}, "acked_at", "status", "next_step_at")
        await _answer(ctx, risk, config, "risk.acked")

    @r.command(
        "resolve",
        aliases=["解决"],
        roles=Role.OWNER | Role.REPORTER | Role.LEADER | Role.ADMIN,
        usage="/resolve <#n> [note]",
        summary="help.resolve",
        everyday=True,
    )
    async def resolve(ctx: Ctx) -> None:
        risk = await _risk(ctx)
        if risk.status == "resolved":
            ctx.reply(ctx.t("risk.already_resolved", number=risk.number))
            return
        now = ctx.clock.now()
        note = ctx.args.text[:MAX_CONTENT]
        risk.status, risk.resolved_at, risk.resolution = "resolved", now, note
        risk.next_step_at, risk.snoozed_until = None, None
        if risk.acked_at is None:
            risk.acked_at = now  # resolving answers the reminder too
        changed = ("status", "resolved_at", "resolution", "next_step_at", "snoozed_until", "acked_at")
        await _save(ctx, risk, "resolved", {"note": note, "on_time": now <= risk.resolve_by}, *changed)
        await _answer(ctx, risk, config, "risk.resolved")

    @r.command(
        "reopen",
        aliases=["重开"],
        roles=Role.REPORTER | Role.LEADER | Role.ADMIN,
        usage="/reopen <#n> [reason]",
        summary="help.reopen",
    )
    async def reopen(ctx: Ctx) -> None:
        risk = await _risk(ctx)
        if risk.status != "resolved":
            ctx.reply(ctx.t("risk.not_resolved", number=risk.number))
            return
        now = ctx.clock.now()
        policy = Policy.from_json(risk.policy)
        calendar = ALWAYS if risk.urgent else calendar_for(ctx.group)
        risk.status, risk.resolved_at, risk.acked_at, risk.resolution = "open", None, None, ""
        risk.respond_by = calendar.add(now, policy.respond)
        risk.resolve_by = calendar.add(now, policy.resolve)
        risk.respond_pings = risk.resolve_pings = 0
        risk.clock_epoch += 1
        risk.snoozed_until = None
        risk.next_step_at = risk.respond_by
        data: dict[str, object] = {"reason": ctx.args.text[:MAX_CONTENT], "resolve_by": risk.resolve_by.isoformat()}
        changed = ("status", "resolved_at", "acked_at", "resolution", "respond_by", "resolve_by", "respond_pings",
                   "resolve_pings", "clock_epoch", "snoozed_until", "next_step_at")  # fmt: skip
        await _save(ctx, risk, "reopened", data, *changed)
        await _answer(ctx, risk, config, "risk.reopened", ping_owner=True)

    @r.command(
        "assign",
        aliases=["转交"],
        roles=Role.OWNER | Role.LEADER | Role.ADMIN,
        usage="/assign <#n> <@user>",
        summary="help.assign",
        everyday=True,
    )
    async def assign(ctx: Ctx) -> None:
        risk = await _risk(ctx)
        new_owner = ctx.args.users[0]
        if risk.status == "resolved":
            ctx.reply(ctx.t("risk.already_resolved", number=risk.number))
            return
        if new_owner.id == risk.owner_id:
            ctx.reply(ctx.t("risk.same_owner", number=risk.number, owner=new_owner.display))
            return
        await records.enrol(ctx.store, group_id(ctx.group), new_owner.id, new_owner.name, ctx.clock.now())
        old = risk.owner_id
        risk.owner_id = new_owner.id
        await _save(ctx, risk, "assigned", {"from": old, "to": new_owner.id}, "owner_id")
        await _answer(ctx, risk, config, "risk.assigned", ping_owner=True)

    @r.command(
        "note", aliases=["备注"], roles=Role.MEMBER, usage="/note <#n> <text>", summary="help.note", everyday=True
    )
    async def note(ctx: Ctx) -> None:
        risk = await _risk(ctx)
        await _save(ctx, risk, "noted", {"text": ctx.args.text[:MAX_CONTENT]})
        ctx.reply(ctx.t("risk.noted", number=risk.number))

    @r.command(
        "snooze",
        aliases=["暂缓"],
        roles=Role.OWNER | Role.LEADER,
        usage="/snooze <#n> <duration|明天|next-workday>",
        summary="help.snooze",
        everyday=True,
    )
    async def snooze(ctx: Ctx) -> None:
        risk = await _risk(ctx)
        if risk.status == "resolved":
            ctx.reply(ctx.t("risk.already_resolved", number=risk.number))
            return
        now = ctx.clock.now()
        until = _snooze_until(ctx, config, now, workday)
        if until - now > config.escalation.max_snooze:
            raise UsageError(ctx.t("risk.snooze_too_long", max=format_duration(config.escalation.max_snooze)))
        risk.snoozed_until = until
        # Recomputed, not just pushed later: a second, shorter snooze brings the next step back.
        risk.next_step_at = _next_step_at(risk, calendar_for(ctx.group))
        await _save(ctx, risk, "snoozed", {"until": until.isoformat()}, "snoozed_until", "next_step_at")
        zone = group_zone(ctx.group, config)
        ctx.reply(ctx.t("risk.snoozed", number=risk.number, until=local_time(until, zone)))

    @r.command(
        "list",
        aliases=["看板", "列表"],
        roles=Role.MEMBER,
        usage="/list [mine/overdue/all]",
        summary="help.list",
        everyday=True,
    )
    async def board(ctx: Ctx) -> None:
        scope = ctx.args.text.lower() or "open"
        scopes = {"open": "open", "mine": "mine", "我的": "mine", "overdue": "overdue", "逾期": "overdue",
                  "all": "all", "全部": "all"}  # fmt: skip
        if scope not in scopes:
            raise UsageError(scope[:20])
        scope = scopes[scope]
        now = ctx.clock.now()
        gid = group_id(ctx.group)
        statuses = ("open", "acknowledged", "resolved") if scope == "all" else records.OPEN_STATES
        owner_id = ctx.event.sender.id if scope == "mine" else None
        overdue_at = now if scope == "overdue" else None
        risks = await records.board(
            ctx.store, gid, statuses=statuses, owner_id=owner_id, overdue_at=overdue_at, limit=LIST_LIMIT + 1
        )
        total = len(risks)
        if total > LIST_LIMIT:  # only a long board needs counting
            total = await records.count_risks(ctx.store, gid, statuses, owner_id=owner_id, overdue_at=overdue_at)
        names = await _names(ctx)
        text = render_board(risks, names, ctx.t, group_zone(ctx.group, config), scope, now, total=total)
        # Requests this group sent, apart from its own risks (the common board has none: one plain
        # look keeps the ORM off the command path).
        if scope in ("open", "all", "overdue") and await records.has_outgoing_requests(ctx.store, gid):
            section = await cross_links.outgoing_section(
                ctx.store.session, ctx.group, config, ctx.t, now, open_only=scope != "all",
                overdue_only=scope == "overdue",
            )  # fmt: skip
            if section:
                text += "\n\n" + section
        if (url := await web_links.group_link(ctx.store, config, gid, now)) is not None:
            text += "\n" + ctx.t("web.footer", url=url)  # the board, to look at
        ctx.reply(text)

    @r.command(
        "show", aliases=["详情"], roles=Role.MEMBER, usage="/show [#n] [group#n]", summary="help.show", everyday=True
    )
    async def show(ctx: Ctx) -> None:
        if ctx.args.risk is None:  # 仓储组#3: a request this group sent to another group
            await _show_request(ctx)
            return
        risk = await _risk(ctx)
        names = await _names(ctx)
        zone = group_zone(ctx.group, config)
        lines = [risk_summary(risk, names, ctx.t, zone)]
        if (origin := await cross_links.origin_line(ctx.store.session, risk.id, ctx.t, zone)) is not None:
            lines.append(origin)
        if assessed := assessment_text(risk, ctx.t):
            lines.append(ctx.t("assess.line", assessment=assessed))
        reporter = person(risk.reporter_id, names)
        lines.append(ctx.t("risk.line_reporter", reporter=reporter.display, at=local_time(risk.created_at, zone)))
        if risk.resolution:
            lines.append(ctx.t("risk.line_resolution", note=risk.resolution))
        events = await repo.risk_events(ctx.store.session, risk.id)
        if evidence := liability_line(events, names, ctx.t, zone):
            lines.append(evidence)  # the 互保责任书's rule rests on it
        lines.append(ctx.t("risk.timeline"))
        for event in events:
            actor = ctx.t("actor.system") if event.actor_id == "system" else person(event.actor_id, names).display
            detail = describe_event(event.kind, event.data, names, ctx, zone)
            lines.append(f"  {local_time(event.at, zone)} {actor} {detail}")
        ctx.reply("\n".join(lines), buttons=risk_buttons(risk, ctx.t))

    async def _show_request(ctx: Ctx) -> None:
        """The linked timeline, read from the group that owns the request's risk."""
        found = cross_links.parse_reference(ctx.args.text)
        if found is None:
            raise UsageError(ctx.args.text[:40])
        session = ctx.store.session
        shown = await cross_links.outgoing_risk(session, group_id(ctx.group), *found)
        if shown is None:
            ctx.reply(ctx.t("request.no_such", ref=ctx.args.text[:40]))
            return
        _link, risk, target = shown
        names = await cross_links.names_of(session, [target.id or 0, group_id(ctx.group)])
        zone = group_zone(ctx.group, config)
        lines = [ctx.t("request.show_title", ref=cross_links.reference(target.name, risk.number)),
                 risk_summary(risk, names, ctx.t, zone)]  # fmt: skip
        if risk.resolution:
            lines.append(ctx.t("risk.line_resolution", note=risk.resolution))
        lines.append(ctx.t("risk.timeline"))
        for event in await repo.risk_events(session, risk.id):
            actor = ctx.t("actor.system") if event.actor_id == "system" else person(event.actor_id, names).display
            detail = describe_event(event.kind, event.data, names, ctx, zone)
            lines.append(f"  {local_time(event.at, zone)} {actor} {detail}")
        ctx.reply("\n".join(lines))

    return r


async def create_risk(
    ctx: Ctx, config: Config, calendar_for: CalendarFor, *, level: str, urgent: bool, source: str = "chat",
    assessment: Assessment | None = None,
) -> RiskRow:
    content = ctx.args.text.strip()
    if not content:
        raise UsageError("")
    if len(content) > MAX_CONTENT:
        raise UsageError(ctx.t("risk.too_long", max=MAX_CONTENT))
    now = ctx.clock.now()
    group: GroupRecord = ctx.group
    gid = group_id(group)
    owner = ctx.args.users[0] if ctx.args.users else ctx.event.sender
    if owner.id != ctx.event.sender.id:
        await records.enrol(ctx.store, gid, owner.id, owner.name, now)
    policy = policy_for(config.escalation, level, group.policy)
    calendar = ALWAYS if urgent else calendar_for(group)
    respond_by = calendar.add(now, policy.respond)
    resolve_by = calendar.add(now, policy.resolve)
    if ctx.args.due:
        zone = group_zone(group, config)
        try:
            due = parse_deadline(ctx.args.due, now, zone, work_hours=group_work_hours(group, config))
        except DeadlineError as exc:
            raise UsageError(explain_deadline(exc, zone, ctx.t)) from exc
        resolve_by = due
        respond_by = min(respond_by, due)
    risk = await records.insert_risk(
        ctx.store,
        RiskRow(
            id=0,
            group_id=gid,
            number=await records.take_next_number(ctx.store, gid),
            content=content,
            level=level,
            tags=list(ctx.args.tags),
            reporter_id=ctx.event.sender.id,
            owner_id=owner.id,
            status="open",
            urgent=urgent,
            source=source,
            created_at=now,
            respond_by=respond_by,
            resolve_by=resolve_by,
            acked_at=None,
            resolved_at=None,
            snoozed_until=None,
            resolution="",
            policy=policy.to_json(),
            next_step_at=respond_by,
            likelihood=assessment.likelihood if assessment else None,
            impact=assessment.impact if assessment else None,
        ),
    )
    data: dict[str, object] = {
        "content": content,
        "level": level,
        "owner": owner.id,
        "tags": list(ctx.args.tags),
        "urgent": urgent,
        "resolve_by": resolve_by.isoformat(),
    }
    if assessment is not None:
        data.update(likelihood=assessment.likelihood, impact=assessment.impact)
    await _save(ctx, risk, "created", data)
    names = await _names(ctx)
    names.setdefault(owner.id, owner)
    zone = group_zone(group, config)
    text = ctx.t("risk.created_urgent" if urgent else "risk.created") + "\n" + risk_summary(risk, names, ctx.t, zone)
    ping = ctx.reply(
        text,
        mentions=[] if urgent else [owner],
        mention_all=urgent,
        lane=Lane.URGENT if urgent else Lane.REPLY,
        buttons=risk_buttons(risk, ctx.t),
        # Logged by the button of a suggestion: the suggestion's card becomes the risk's card.
        updates_card=ctx.event.button is not None,
        toast=ctx.t("risk.created") if ctx.event.button is not None else "",
    )
    if urgent and personal.step_wanted(config, "urgent"):
        await _reach_everyone(ctx, config, risk, ping, names)
    return risk


async def _reach_everyone(ctx: Ctx, config: Config, risk: RiskRow, ping: OutboundMessage,
                          names: dict[str, User]) -> None:  # fmt: skip
    """/urgent pings @all: the group's active members (but the sender) are also reached directly."""
    ping_key = f"urgent:{risk.id}:{risk.clock_epoch}"
    stamped = personal.stamped(ping, ping_key)
    ctx.out[ctx.out.index(ping)] = stamped
    roster = await records.roster(ctx.store, risk.group_id)
    people = [names.get(m.user_id) or User(m.user_id, m.name) for m in roster.values()
              if m.active and m.user_id != ctx.event.sender.id]  # fmt: skip
    found = await personal.personal_messages(
        ctx.store, config, ctx.group, ping_key=ping_key, ping=stamped, people=people, level=risk.level, urgent=True
    )
    await records.enqueue(ctx.store, [(key, m.to_json(), int(m.lane)) for key, m in found], now=ctx.clock.now())


def render_board(
    risks: Sequence[RiskRecord | BoardRow],
    names: dict[str, User],
    t: Catalog,
    zone: ZoneInfo,
    scope: str,
    now: datetime,
    *,
    total: int | None = None,
) -> str:
    """The board text; also posted by the weekly job (handlers/weekly.py).

    ``risks`` may be the first page only; ``total`` is then how many there are in all.
    """
    total = len(risks) if total is None else total
    if not risks:
        return t(f"board.empty_{scope}")
    lines = [t(f"board.title_{scope}", count=total)]
    levels: dict[str, str] = {}  # labels looked up once per board, not once per line
    resolved, overdue, unacked = t("board.flag_resolved"), t("board.flag_overdue"), t("board.flag_unacked")
    for risk in risks[:LIST_LIMIT]:
        owner = person(risk.owner_id, names).display
        flag = ""
        if risk.status == "resolved":
            flag = resolved
        elif risk.resolve_by < now:
            flag = overdue
        elif risk.acked_at is None and risk.respond_by < now:
            flag = unacked
        level = levels.get(risk.level) or levels.setdefault(risk.level, level_label(risk.level, t))
        if risk.likelihood and risk.impact:
            level = f"{level} {risk.likelihood}×{risk.impact}"
        lines.append(
            t(
                "board.line",
                number=risk.number,
                level=level,
                content=_clip(risk.content, 40),
                owner=owner,
                age=age_text(now - risk.created_at, t),
                due=local_time(risk.resolve_by, zone),
                flag=flag,
            ).rstrip()
        )
    if total > LIST_LIMIT:
        lines.append(t("board.more", count=total - min(len(risks), LIST_LIMIT)))
    return "\n".join(lines)


def describe_event(kind: str, data: dict[str, object], names: dict[str, User], ctx: Ctx, zone: object) -> str:
    t = ctx.t
    if kind == "assessed":
        return assessed_event_text(data, t)
    if kind == "assigned":
        return t("event.assigned", to=person(str(data.get("to")), names).display)
    if kind == "noted":
        return t("event.noted", text=data.get("text", ""))
    if kind == "snoozed":
        until = datetime.fromisoformat(str(data["until"]))
        return t("event.snoozed", until=local_time(until, zone))  # type: ignore[arg-type]
    if kind == "resolved" and data.get("note"):
        return t("event.resolved_note", note=data["note"])
    if kind == "reopened" and data.get("reason"):
        return t("event.reopened_reason", reason=data["reason"])
    if kind == "escalated":
        return t("event.escalated", step=t(f"step.{data.get('step', 'respond')}"), n=data.get("repeat", 0))
    key = f"event.{kind}"
    return t(key) if t.has(key) else kind


async def _risk(ctx: Ctx) -> RiskRow:
    number = ctx.args.risk
    assert number is not None  # the router requires it
    risk = await records.risk_by_number(ctx.store, group_id(ctx.group), number, for_update=True)
    assert risk is not None  # roles_of already raised RiskNotFound
    return risk


async def _save(ctx: Ctx, risk: RiskRow, kind: str, data: dict[str, object], *changed: str) -> None:
    """Write the ``changed`` fields of ``risk`` and record what happened in its timeline."""
    if changed:
        await records.update_risk(ctx.store, risk, *changed)
    await records.add_event(
        ctx.store,
        group_id=risk.group_id,
        risk_id=risk.id,
        actor_id=ctx.event.sender.id,
        kind=kind,
        at=ctx.clock.now(),
        data=data,
        message_id=ctx.event.message_id,
    )
    if kind in cross_links.MIRRORED and risk.id is not None and await records.has_request_link(ctx.store, risk.id):
        await cross_links.mirror(ctx.store.session, ctx.t, risk, kind, data, ctx.event.sender, ctx.clock.now(),
                                 ctx.event.message_id)  # fmt: skip


async def _names(ctx: Ctx) -> dict[str, User]:
    """Everyone the group knows (former members too), by user id, with display names."""
    return {m.user_id: User(m.user_id, m.name) for m in (await records.roster(ctx.store, group_id(ctx.group))).values()}


async def _answer(ctx: Ctx, risk: RiskRow, config: Config, key: str, *, ping_owner: bool = False) -> None:
    """Reply to a risk command; to a button click, answer with the refreshed card and a toast."""
    names = await _names(ctx)
    zone = group_zone(ctx.group, config)
    headline = ctx.t(key, number=risk.number)
    owner = person(risk.owner_id, names)
    ctx.reply(
        headline + "\n" + risk_summary(risk, names, ctx.t, zone),
        mentions=[owner] if ping_owner else [],
        buttons=risk_buttons(risk, ctx.t),
        updates_card=ctx.event.button is not None,
        toast=headline if ctx.event.button is not None else "",
    )


def _next_step_at(risk: RiskRow, group_calendar: Calendar) -> datetime | None:
    """When the sweep must next look at ``risk``, by the same rule the sweep itself uses."""
    calendar = ALWAYS if risk.urgent else group_calendar
    return due_at(RiskView.of(risk), Policy.from_json(risk.policy), calendar)


def _snooze_until(ctx: Ctx, config: Config, now: datetime, is_workday: Callable[[date], bool]) -> datetime:
    raw = ctx.args.text.strip()
    zone = group_zone(ctx.group, config)
    work_start = work_start_time(ctx.group.work_hours or config.escalation.work_hours)
    if raw.lower() in ("next-workday", "下个工作日", "next_workday"):
        return next_workday_start(now, zone, work_start, is_workday)
    if raw in ("明天", "tomorrow"):
        tomorrow = now.astimezone(zone).date() + timedelta(days=1)
        return datetime.combine(tomorrow, work_start, zone).astimezone(UTC)
    try:
        return now + parse_duration(raw)
    except ValueError:
        pass
    try:  # 下周一 without a time: the start of that working day
        return parse_deadline(raw, now, zone, work_hours=group_work_hours(ctx.group, config), day_default=work_start)
    except DeadlineError as exc:
        raise UsageError(explain_deadline(exc, zone, ctx.t)) from exc


def group_work_hours(group: GroupRecord, config: Config) -> tuple[time, time]:
    """The group's working hours (its own, else the configured ones): 下班前 is their end."""
    return parse_work_hours(group.work_hours or config.escalation.work_hours)


def work_start_time(hours: str) -> time:
    start = hours.split("-", 1)[0].strip()
    hour, _, minute = start.partition(":")
    return time(int(hour), int(minute or 0))


def next_workday_start(now: datetime, zone: ZoneInfo, start: time, is_workday: Callable[[date], bool]) -> datetime:
    """Start of working time on the next working day (Chinese holidays and 调休 included)."""
    day = now.astimezone(zone).date()
    for _ in range(60):
        day += timedelta(days=1)
        if is_workday(day):
            break
    return datetime.combine(day, start, zone).astimezone(UTC)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
