"""The 互保责任书 (pledge): the group's mutual-guarantee duties, confirmed by each member.

``/admin pledge <text>`` (the leader for their group, admins) sets a new version and asks every
member to confirm; ``/pledge confirm`` (``/确认责任书``) confirms the version in force; ``/pledge``
shows it with who confirmed and when, and who has not yet. Someone who joins a group that has
a pledge is asked to confirm it (:func:`ask_new_member`). Setting and confirming are audited
events (``pledge.set``, ``pledge.confirmed``). The liability rule itself (who reminded in time is
not liable; who knew and kept silent is) rests on the risk events: ``/show`` states who reminded
whom and when and who acknowledged (:func:`liability_line`), and the export carries the same.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from hubao.bot.config import Config
from hubao.bot.events import Lane, OutboundMessage, User
from hubao.bot.i18n import Catalog
from hubao.bot.router import CommandContext, Role, Router, UsageError
from hubao.handlers.common import audit, group_id, group_zone, local_time, person, roster
from hubao.storage import records, repo
from hubao.storage import routine as store
from hubao.storage.models import Pledge, PledgeConfirmation
from hubao.storage.records import GroupRecord
from hubao.storage.tx import Tx

Ctx = CommandContext[Tx]
PLEDGE_MAX = 1500
NAMES_LIMIT = 30


async def ask_new_member(tx: Tx, group: GroupRecord, user: User, now: Any, t: Catalog) -> None:
    """Queue the request to confirm the pledge to someone who just joined (if the group has one)."""
    row = await tx.fetchrow(
        "SELECT id FROM pledges WHERE group_id = ? ORDER BY set_at DESC, id DESC LIMIT 1", group_id(group)
    )
    if row is None:
        return
    message = OutboundMessage(
        platform=group.platform, chat_id=group.chat_id, text=t("pledge.welcome", name=user.display),
        mentions=(user,), lane=Lane.REPLY,
    )  # fmt: skip
    key = f"pledge:{group_id(group)}:{row[0]}:welcome:{user.id}"
    await records.enqueue(tx, [(key, message.to_json(), int(Lane.REPLY))], now=now)


def liability_line(events: list[Any], names: dict[str, User], t: Catalog, zone: Any) -> str:
    """Who reminded whom and when, and who acknowledged when: the evidence of the pledge's rule."""
    created = next((e for e in events if e.kind == "created"), None)
    if created is None:
        return ""
    owner = person(str((created.data or {}).get("owner") or ""), names).display
    reporter = person(created.actor_id, names).display if created.actor_id != "system" else t("actor.system")
    line = t("pledge.evidence_reminded", reporter=reporter, owner=owner, at=local_time(created.at, zone))
    acked = next((e for e in events if e.kind in ("acknowledged", "resolved")), None)
    if acked is None:
        return line + t("pledge.evidence_unacked")
    return line + t("pledge.evidence_acked", who=person(acked.actor_id, names).display,
                    at=local_time(acked.at, zone))  # fmt: skip


def router(config: Config) -> Router:
    r = Router()

    @r.command(
        "admin pledge",
        aliases=["管理 pledge", "管理 责任书"],
        roles=Role.LEADER | Role.ADMIN,
        usage="/admin pledge <text>",
        summary="help.admin_pledge",
    )
    async def set_pledge(ctx: Ctx) -> None:
        text = ctx.args.text.strip()
        if len(text) > PLEDGE_MAX:
            raise UsageError(ctx.t("risk.too_long", max=PLEDGE_MAX))
        now = ctx.clock.now()
        pledge = Pledge(group_id=group_id(ctx.group), text=text, set_by=ctx.event.sender.id, set_at=now)
        ctx.store.session.add(pledge)
        await ctx.store.session.flush()
        await audit(ctx, "pledge.set", {"pledge": pledge.id, "text": text})
        members = [User(m.user_id, m.name) for m in await repo.members(ctx.store.session, group_id(ctx.group))]
        ctx.reply(ctx.t("pledge.set", text=text), mentions=[m for m in members if m.id != ctx.event.sender.id])

    @r.command(
        "pledge",
        aliases=["责任书"],
        roles=Role.MEMBER,
        usage="/pledge",
        summary="help.pledge",
    )
    async def show(ctx: Ctx) -> None:
        pledge = await store.current_pledge(ctx.store.session, group_id(ctx.group))
        if pledge is None:
            ctx.reply(ctx.t("pledge.none"))
            return
        zone = group_zone(ctx.group, config)
        names = await roster(ctx.store.session, ctx.group)
        confirmed = await store.confirmations(ctx.store.session, pledge.id or 0)
        done = {c.user_id for c in confirmed}
        active = [m.user_id for m in await repo.members(ctx.store.session, group_id(ctx.group))]
        waiting = [u for u in active if u not in done]
        lines = [
            ctx.t("pledge.title", group=ctx.group.name, at=local_time(pledge.set_at, zone),
                  by=person(pledge.set_by, names).display),
            pledge.text,
            "",
            ctx.t("pledge.confirmed_title", count=len(confirmed), total=len(set(active) | done)),
        ]  # fmt: skip
        lines += [
            ctx.t("pledge.confirmed_line", name=person(c.user_id, names).display, at=local_time(c.confirmed_at, zone))
            for c in confirmed[:NAMES_LIMIT]
        ]
        if waiting:
            shown = ctx.t("role.join").join(person(u, names).display for u in waiting[:NAMES_LIMIT])
            lines.append(ctx.t("pledge.waiting", names=shown))
        ctx.reply("\n".join(lines))

    @r.command(
        "pledge confirm",
        aliases=["确认责任书", "责任书 确认", "责任书 confirm"],
        roles=Role.MEMBER,
        usage="/pledge confirm",
        summary="help.pledge_confirm",
    )
    async def confirm(ctx: Ctx) -> None:
        pledge = await store.current_pledge(ctx.store.session, group_id(ctx.group))
        if pledge is None:
            ctx.reply(ctx.t("pledge.none"))
            return
        zone = group_zone(ctx.group, config)
        mine = [c for c in await store.confirmations(ctx.store.session, pledge.id or 0)
                if c.user_id == ctx.event.sender.id]  # fmt: skip
        if mine:
            ctx.reply(ctx.t("pledge.already", at=local_time(mine[0].confirmed_at, zone)))
            return
        now = ctx.clock.now()
        try:
            async with ctx.store.session.begin_nested():
                ctx.store.session.add(PledgeConfirmation(pledge_id=pledge.id or 0, user_id=ctx.event.sender.id,
                                                         confirmed_at=now))  # fmt: skip
                await ctx.store.session.flush()
        except IntegrityError:  # the same person confirming twice at once
            ctx.reply(ctx.t("pledge.already", at=local_time(now, zone)))
            return
        await audit(ctx, "pledge.confirmed", {"pledge": pledge.id})
        ctx.reply(ctx.t("pledge.thanks", name=ctx.event.sender.display, at=local_time(now, zone)))

    return r
