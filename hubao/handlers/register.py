"""The group's 互保风险清单 (risk register): known risks of its work, each with a level, the
condition that triggers it and the response agreed in advance.

``/register add <name> [!level] 触发:<condition> 应对:<response> [@owner]`` (leader, admin) adds
entry ``Rn``; ``/register`` lists them; ``/register edit <Rn> …`` changes the fields given;
``/register remove <Rn>`` takes one off. Any member runs ``/register trigger <Rn> [details]``
when the condition occurs: that logs a tracked risk (source ``register``) of the entry's level and
owner, whose reply carries the agreed response. An entry not reviewed (added, edited or
triggered) for ``[register] stale_after`` (90 days) is flagged in the weekly summary. Every change
is an audited event (kinds ``register.*``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.config import Config
from hubao.bot.events import User
from hubao.bot.i18n import Catalog
from hubao.bot.router import CommandContext, Role, Router, UsageError
from hubao.handlers.common import audit, group_id, level_label, person, roster
from hubao.handlers.risks import create_risk
from hubao.scheduler.calendar import ALWAYS, Calendar
from hubao.storage import records
from hubao.storage import routine as store
from hubao.storage.models import RegisterEntry
from hubao.storage.records import GroupRecord
from hubao.storage.tx import Tx

Ctx = CommandContext[Tx]
CalendarFor = Callable[[GroupRecord], Calendar]
NAME_MAX, TRIGGER_MAX, RESPONSE_MAX = 200, 500, 1000
STALE_LIMIT = 10
_FIELD = re.compile(r"(触发|trigger|应对|response)[:：]", re.IGNORECASE)
_NUMBER = re.compile(r"^[Rr](\d{1,6})$")


def split_fields(text: str) -> tuple[str, dict[str, str]]:
    """``name 触发:a b 应对:c`` → ("name", {"trigger": "a b", "response": "c"})."""
    parts = _FIELD.split(text)
    name, fields = parts[0].strip(), {}
    for marker, value in zip(parts[1::2], parts[2::2], strict=True):
        key = "trigger" if marker.lower() in ("触发", "trigger") else "response"
        if key in fields:
            raise ValueError(key)
        fields[key] = value.strip()
    return name, fields


def entry_number(word: str) -> int | None:
    m = _NUMBER.match(word.strip())
    return int(m.group(1)) if m else None


def entry_text(entry: RegisterEntry, names: dict[str, User], t: Catalog) -> str:
    owner = person(entry.owner_id, names).display if entry.owner_id else t("register.no_owner")
    return "\n".join([
        t("register.line", number=entry.number, level=level_label(entry.level, t), name=entry.name, owner=owner),
        t("register.line_trigger", trigger=entry.trigger),
        t("register.line_response", response=entry.response),
    ])  # fmt: skip


def is_stale(entry: RegisterEntry, now: datetime, config: Config) -> bool:
    return entry.reviewed_at <= now - config.risk_register.stale_after


async def stale_lines(session: AsyncSession, gid: int, config: Config, now: datetime, t: Catalog) -> list[str]:
    """The weekly summary's lines about register entries not reviewed for ``stale_after``."""
    stale = [e for e in await store.register_entries(session, gid) if is_stale(e, now, config)]
    if not stale:
        return []
    lines = [t("register.stale_title", days=config.risk_register.stale_after.days, count=len(stale))]
    for entry in stale[:STALE_LIMIT]:
        days = (now - entry.reviewed_at).days
        lines.append(t("register.stale_line", number=entry.number, name=entry.name, days=days))
    if len(stale) > STALE_LIMIT:
        lines.append(t("summary.more", count=len(stale) - STALE_LIMIT))
    return lines


def router(config: Config, calendar_for: CalendarFor = lambda _g: ALWAYS) -> Router:
    r = Router()

    async def entry_of(ctx: Ctx) -> tuple[RegisterEntry, list[str]]:
        words = list(ctx.args.words)
        number = entry_number(words[0]) if words else None
        if number is None:
            raise UsageError(ctx.t("register.need_number"))
        entry = await store.register_entry(ctx.store.session, group_id(ctx.group), number)
        if entry is None:
            raise UsageError(ctx.t("register.not_found", number=number))
        return entry, words[1:]

    def checked(ctx: Ctx, name: str, fields: dict[str, str]) -> None:
        if len(name) > NAME_MAX or len(fields.get("trigger", "")) > TRIGGER_MAX:
            raise UsageError(ctx.t("risk.too_long", max=NAME_MAX if len(name) > NAME_MAX else TRIGGER_MAX))
        if len(fields.get("response", "")) > RESPONSE_MAX:
            raise UsageError(ctx.t("risk.too_long", max=RESPONSE_MAX))

    @r.command(
        "register",
        aliases=["清单"],
        roles=Role.MEMBER,
        usage="/register [list]",
        summary="help.register",
    )
    async def show(ctx: Ctx) -> None:
        if ctx.args.text.strip().lower() not in ("", "list", "列表", "全部"):
            raise UsageError(ctx.t("register.subcommands"))
        entries = await store.register_entries(ctx.store.session, group_id(ctx.group))
        if not entries:
            ctx.reply(ctx.t("register.empty"))
            return
        names = await roster(ctx.store.session, ctx.group)
        now = ctx.clock.now()
        lines = [ctx.t("register.title", group=ctx.group.name, count=len(entries))]
        for entry in entries:
            text = entry_text(entry, names, ctx.t)
            if is_stale(entry, now, config):
                text += "\n" + ctx.t("register.line_stale", days=(now - entry.reviewed_at).days)
            lines += ["", text]
        ctx.reply("\n".join(lines))

    @r.command(
        "register add",
        aliases=["清单 add", "清单 添加"],
        roles=Role.LEADER | Role.ADMIN,
        usage="/register add <name> [!高/!中/!低] <触发:condition> <应对:response> [@owner]",
        summary="help.register_add",
    )
    async def add(ctx: Ctx) -> None:
        try:
            name, fields = split_fields(ctx.args.text)
        except ValueError:
            raise UsageError(ctx.t("register.field_twice")) from None
        if not name or not fields.get("trigger") or not fields.get("response"):
            raise UsageError(ctx.t("register.need_fields"))
        checked(ctx, name, fields)
        now = ctx.clock.now()
        gid = group_id(ctx.group)
        owner = ctx.args.users[0] if ctx.args.users else None
        if owner is not None:
            await records.enrol(ctx.store, gid, owner.id, owner.name, now)
        entry = RegisterEntry(
            group_id=gid, number=await store.next_number(ctx.store.session, RegisterEntry, gid), name=name,
            level=ctx.args.level.value if ctx.args.level else "medium", trigger=fields["trigger"],
            response=fields["response"], owner_id=owner.id if owner else None, created_by=ctx.event.sender.id,
            created_at=now, reviewed_at=now,
        )  # fmt: skip
        ctx.store.session.add(entry)
        await ctx.store.session.flush()
        await audit(ctx, "register.added", {"number": entry.number, "name": name, "level": entry.level,
                                             "trigger": entry.trigger, "response": entry.response,
                                             "owner": entry.owner_id})  # fmt: skip
        names = await roster(ctx.store.session, ctx.group)
        if owner is not None:
            names.setdefault(owner.id, owner)
        ctx.reply(ctx.t("register.added", number=entry.number) + "\n" + entry_text(entry, names, ctx.t))

    @r.command(
        "register edit",
        aliases=["清单 edit", "清单 修改"],
        roles=Role.LEADER | Role.ADMIN,
        usage="/register edit <Rn> [name] [!高/!中/!低] [触发:condition] [应对:response] [@owner]",
        summary="help.register_edit",
    )
    async def edit(ctx: Ctx) -> None:
        entry, rest = await entry_of(ctx)
        try:
            name, fields = split_fields(" ".join(rest))
        except ValueError:
            raise UsageError(ctx.t("register.field_twice")) from None
        checked(ctx, name, fields)
        changes: dict[str, object] = {}
        if name:
            changes["name"] = name
        if ctx.args.level is not None:
            changes["level"] = ctx.args.level.value
        for key in ("trigger", "response"):
            if fields.get(key):
                changes[key] = fields[key]
        if ctx.args.users:
            owner = ctx.args.users[0]
            await records.enrol(ctx.store, entry.group_id, owner.id, owner.name, ctx.clock.now())
            changes["owner_id"] = owner.id
        if not changes:
            raise UsageError(ctx.t("register.nothing_to_change"))
        before = {key: getattr(entry, key) for key in changes}
        for key, value in changes.items():
            setattr(entry, key, value)
        entry.reviewed_at = ctx.clock.now()
        ctx.store.session.add(entry)
        await ctx.store.session.flush()
        await audit(ctx, "register.edited", {"number": entry.number, "changes": changes, "before": before})
        names = await roster(ctx.store.session, ctx.group)
        ctx.reply(ctx.t("register.edited", number=entry.number) + "\n" + entry_text(entry, names, ctx.t))

    @r.command(
        "register remove",
        aliases=["清单 remove", "清单 删除"],
        roles=Role.LEADER | Role.ADMIN,
        usage="/register remove <Rn> [reason]",
        summary="help.register_remove",
    )
    async def remove(ctx: Ctx) -> None:
        entry, rest = await entry_of(ctx)
        entry.removed_at = ctx.clock.now()
        ctx.store.session.add(entry)
        await ctx.store.session.flush()
        await audit(ctx, "register.removed", {"number": entry.number, "name": entry.name, "reason": " ".join(rest)})
        ctx.reply(ctx.t("register.removed", number=entry.number, name=entry.name))

    @r.command(
        "register trigger",
        aliases=["清单 trigger", "清单 触发"],
        roles=Role.MEMBER,
        usage="/register trigger <Rn> [details]",
        summary="help.register_trigger",
    )
    async def trigger(ctx: Ctx) -> None:
        entry, rest = await entry_of(ctx)
        details = " ".join(rest)
        content = ctx.t("register.risk_content", number=entry.number, name=entry.name)
        if details:
            content += " " + details
        names = await roster(ctx.store.session, ctx.group)
        owner = (person(entry.owner_id, names),) if entry.owner_id else ctx.args.users[:1]
        ctx.args = replace(ctx.args, words=tuple(content.split()), users=tuple(owner), level=None)
        risk = await create_risk(ctx, config, calendar_for, level=entry.level, urgent=False, source="register")
        entry.reviewed_at = ctx.clock.now()
        ctx.store.session.add(entry)
        await ctx.store.session.flush()
        await audit(ctx, "register.triggered", {"number": entry.number, "details": details}, risk_id=risk.id)
        card = ctx.out[-1]
        response = ctx.t("register.response", number=entry.number, response=entry.response)
        ctx.out[-1] = card.with_text(card.text + "\n" + response)

    return r
