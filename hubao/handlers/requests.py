"""Cross-group requests (跨部门快速响应通道): one group asks another, on any platform.

``/request <group> <text> [!level] [due:<time>]`` (``/协同`` ``/求助``) in a registered group makes a
tracked risk of the *target* group, owned by whoever is on duty there (else its leader), on the
target's windows and escalation. The asking group gets the reference (``仓储组#3``) and a post back on
each change of state (:mod:`hubao.handlers.cross_links`). ``/admin requests allow|deny <group>``,
typed in the target group, says which groups may ask it: a deny always refuses; once any group is
allowed, only allowed groups may ask. The intake API and Alertmanager open requests the same way
(``target`` in the body, or a ``target`` label).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.clock import Clock
from hubao.bot.config import Config
from hubao.bot.events import InboundEvent, OutboundMessage, User
from hubao.bot.router import Args, CommandContext, CommandSpec, Role, Router, UsageError
from hubao.handlers.access import enqueue_messages
from hubao.handlers.common import MAX_CONTENT, audit, group_id
from hubao.handlers.cross_links import reference
from hubao.handlers.duty import on_duty
from hubao.handlers.reports import catalog_for
from hubao.handlers.risks import create_risk
from hubao.scheduler.calendar import ALWAYS, Calendar
from hubao.storage import records, repo
from hubao.storage.models import CrossRequest, Group, RequestRule
from hubao.storage.records import GroupRecord, RiskRow
from hubao.storage.tx import Tx

Ctx = CommandContext[Tx]
CalendarFor = Callable[[GroupRecord], Calendar]


class RequestRefused(Exception):
    """The request may not be made; ``key`` and ``fields`` are the catalogue message saying why."""

    def __init__(self, key: str, **fields: object) -> None:
        super().__init__(key)
        self.key = key
        self.fields = fields


async def find_group(session: AsyncSession, wanted: str) -> Group | None:
    """A registered group by name (case-insensitive), chat id or number."""
    wanted = wanted.strip()
    if not wanted:
        return None
    by_name = (
        await session.exec(select(Group).where(func.lower(col(Group.name)) == wanted.lower()).order_by(col(Group.id)))
    ).all()
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1:
        raise RequestRefused("request.ambiguous", group=wanted)
    by_chat = (await session.exec(select(Group).where(Group.chat_id == wanted))).first()
    if by_chat is not None:
        return by_chat
    if wanted.isascii() and wanted.isdigit() and len(wanted) < 10:
        return await session.get(Group, int(wanted))
    return None


async def check_allowed(session: AsyncSession, asker: GroupRecord, target: Group) -> None:
    """Raise :class:`RequestRefused` saying why when ``asker`` may not ask ``target``."""
    if target.id == asker.id:
        raise RequestRefused("request.same_group")
    rules = (await session.exec(select(RequestRule).where(RequestRule.group_id == target.id))).all()
    mine = next((r for r in rules if r.asker_group_id == asker.id), None)
    if mine is not None and not mine.allowed:
        raise RequestRefused("request.denied", target=target.name, asker=asker.name)
    if mine is None and any(r.allowed for r in rules):
        raise RequestRefused("request.not_allowed", target=target.name, asker=asker.name)


async def default_owner(session: AsyncSession, target: Group) -> User:
    """Whoever is on duty in the target group, else its leader."""
    roster = {m.user_id: m for m in await repo.members(session, target.id or 0)}
    for user_id in (await on_duty(session, target.id or 0), target.leader_id):
        if user_id:
            member = roster.get(user_id)
            return User(user_id, member.name if member else "")
    raise RequestRefused("request.no_owner", target=target.name)


async def open_request(
    tx: Tx,
    *,
    config: Config,
    clock: Clock,
    calendar_for: CalendarFor,
    risk_spec: CommandSpec,
    asker: GroupRecord,
    target: Group,
    requester: User,
    args: Args,
    level: str,
    message_id: str,
    source: str = "request",
    urgent: bool = False,
) -> RiskRow:
    """Create the request's risk in ``target`` and queue its card there; returns the risk."""
    session = tx.session
    await check_allowed(session, asker, target)
    owner = await default_owner(session, target)
    now = clock.now()
    t_target = catalog_for(target, config)
    event = InboundEvent(
        platform=target.platform, chat_id=target.chat_id, sender=requester, text="", message_id=message_id, time=now
    )
    ctx: Ctx = CommandContext(
        event=event, spec=risk_spec, args=Args(users=(owner,), level=args.level, tags=args.tags, due=args.due,
                                               words=args.words),
        store=tx, clock=clock, t=t_target, group=target, roles=Role.ADMIN,
    )  # fmt: skip
    risk = await create_risk(ctx, config, calendar_for, level=level, urgent=urgent, source=source)
    session.add(CrossRequest(risk_id=risk.id, from_group_id=group_id(asker), to_group_id=target.id or 0,
                             requested_by=requester.id, created_at=now))  # fmt: skip
    await session.flush()
    await records.add_event(
        tx, group_id=group_id(asker), risk_id=None, actor_id=requester.id, kind="request.sent", at=now,
        data={"to_group": target.id, "risk_id": risk.id, "number": risk.number}, message_id=message_id,
    )  # fmt: skip
    head = t_target("request.received", asker=asker.name, who=requester.display)
    cards: list[OutboundMessage] = [m.with_text(f"{head}\n{m.text}") for m in ctx.out]
    await enqueue_messages(session, cards, f"req:{risk.id}:created", now)
    return risk


def router(config: Config, calendar_for: CalendarFor = lambda _g: ALWAYS, table: Router | None = None) -> Router:
    """``table`` is the full command table, where ``/risk`` (whose card a request reuses) lives."""
    r = Router()

    @r.command(
        "request",
        aliases=["协同", "求助"],
        roles=Role.MEMBER,
        usage="/request <group> <text> [!高/!中/!低] [due:<time>]",
        summary="help.request",
        everyday=True,
    )
    async def request(ctx: Ctx) -> None:
        words = list(ctx.args.words)
        if len(words) < 2:
            raise UsageError(ctx.t("request.need_group_and_text"))
        wanted, text = words[0], " ".join(words[1:])
        if len(text) > MAX_CONTENT:
            raise UsageError(ctx.t("risk.too_long", max=MAX_CONTENT))
        session = ctx.store.session
        try:
            target = await find_group(session, wanted)
            if target is None:
                raise RequestRefused("request.unknown_group", group=wanted[:40])
            spec = (table or r).get("risk")
            assert spec is not None, "/request reuses the card of /risk: mount the risk commands"
            risk = await open_request(
                ctx.store, config=config, clock=ctx.clock, calendar_for=calendar_for, risk_spec=spec,
                asker=ctx.group, target=target, requester=ctx.event.sender,
                args=Args(level=ctx.args.level, tags=ctx.args.tags, due=ctx.args.due, words=tuple(text.split())),
                level=ctx.args.level.value if ctx.args.level else "medium", message_id=ctx.event.message_id,
            )  # fmt: skip
        except RequestRefused as exc:
            ctx.reply(ctx.t(exc.key, **exc.fields))
            return
        names = {m.user_id: m.name for m in await repo.members(session, target.id or 0)}
        ctx.reply(
            ctx.t(
                "request.sent",
                ref=reference(target.name, risk.number),
                target=target.name,
                owner=names.get(risk.owner_id) or risk.owner_id,
            )
        )

    @r.command(
        "admin requests",
        aliases=["管理 requests", "管理 协同"],
        roles=Role.ADMIN,
        usage="/admin requests <allow|deny> <group>",
        summary="help.admin_requests",
    )
    async def rules(ctx: Ctx) -> None:
        words = list(ctx.args.words)
        actions = {"allow": True, "允许": True, "deny": False, "拒绝": False}
        if len(words) < 2 or words[0].lower() not in actions:
            raise UsageError("")
        allowed = actions[words[0].lower()]
        session = ctx.store.session
        try:
            other = await find_group(session, " ".join(words[1:]))
        except RequestRefused as exc:
            raise UsageError(ctx.t(exc.key, **exc.fields)) from None
        if other is None:
            raise UsageError(ctx.t("request.unknown_group", group=" ".join(words[1:])[:40]))
        if other.id == ctx.group.id:
            raise UsageError(ctx.t("request.same_group"))
        now = ctx.clock.now()
        rule = await session.get(RequestRule, (group_id(ctx.group), other.id))
        if rule is None:
            rule = RequestRule(group_id=group_id(ctx.group), asker_group_id=other.id or 0, allowed=allowed,
                               changed_by=ctx.event.sender.id, changed_at=now)  # fmt: skip
        rule.allowed, rule.changed_by, rule.changed_at = allowed, ctx.event.sender.id, now
        session.add(rule)
        await session.flush()
        await audit(ctx, "admin.requests", {"group": other.id, "allowed": allowed})
        key = "request.rule_allowed" if allowed else "request.rule_denied"
        ctx.reply(ctx.t(key, asker=other.name, target=ctx.group.name))

    return r

