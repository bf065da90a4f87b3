"""/admin (/管理): register a chat as a group and set it up; manage bot admins and intake tokens.

Each subcommand is its own two-word entry of the one command table, so its role declaration
is read by the parser, /help and the dispatcher's role check alike. Bot admins may do all of
them anywhere; the group's leader may do the starred ones (leader, member, pair, unpair,
digest) in their own group. Every change is an audited event (``admin.<what>``) with the
actor and what changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hubao.bot.config import Config
from hubao.bot.events import User
from hubao.bot.router import LEVEL_WORDS, CommandContext, Role, Router, UsageError, describe_roles
from hubao.bot.sanitize import clean_line
from hubao.bot.timeparse import format_duration, parse_duration
from hubao.handlers import weekly
from hubao.handlers.common import group_id, local_time, person, roster
from hubao.handlers.intake import ALERTS_PATH, RISKS_PATH, issue_token
from hubao.scheduler.calendar import ALWAYS, Calendar
from hubao.scheduler.policy import LEVELS, policy_for
from hubao.storage import admin as admin_store
from hubao.storage import repo
from hubao.storage.models import Group
from hubao.storage.records import GroupRecord
from hubao.storage.tx import Tx

Ctx = CommandContext[Tx]
CalendarFor = Callable[[GroupRecord], Calendar]
ADMIN_OR_LEADER = Role.ADMIN | Role.LEADER
MIN_REPEAT = timedelta(minutes=5)
MAX_REPEATS = 20
_HOURS = re.compile(r"^([01]?\d|2[0-3])[:：]([0-5]\d)-([01]?\d|2[0-3])[:：]([0-5]\d)$")
_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$")
_CHAT = re.compile(r"^[A-Za-z0-9_\-:.@=+/]{1,128}$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3])[:：]([0-5]\d)$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_WORDS = {
    **{d: d for d in WEEKDAYS},
    **{full: d for full, d in zip(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), WEEKDAYS, strict=True)},
    **{f"周{c}": d for c, d in zip("一二三四五六日", WEEKDAYS, strict=True)},
    **{f"星期{c}": d for c, d in zip("一二三四五六日", WEEKDAYS, strict=True)},
    "周天": "sun", "星期天": "sun",
}  # fmt: skip
OFF_WORDS = ("off", "none", "关闭", "无")
ADD_WORDS = {"add": "add", "加": "add", "添加": "add", "remove": "remove", "rm": "remove", "移除": "remove",
             "删除": "remove"}  # fmt: skip
POLICY_KEYS = {"respond": "respond", "响应": "respond", "resolve": "resolve", "解决": "resolve",
               "repeat": "repeat", "重复": "repeat", "max": "max_repeats", "次数": "max_repeats"}  # fmt: skip
CALENDARS = {"always": "always", "全天": "always", "workdays": "workdays", "工作日": "workdays"}


def router(config: Config, table: Router, calendar_for: CalendarFor = lambda _g: ALWAYS) -> Router:
    """``table`` is the full command table (the /admin menu lists what it holds)."""
    r = Router()

    async def reschedule_weekly(ctx: Ctx) -> None:
        """The weekly post follows a new slot, zone or calendar at once."""
        await weekly.schedule_weekly(ctx.store.session, ctx.group, config, ctx.clock.now(), calendar_for(ctx.group))

    @r.command(
        "admin",
        aliases=["管理"],
        roles=Role.ANYONE,
        usage="/admin [subcommand]",
        summary="help.admin",
        needs_group=False,
    )
    async def menu(ctx: Ctx) -> None:
        lines = [ctx.t("admin.unknown_sub", word=ctx.args.words[0][:32])] if ctx.args.words else []
        lines.append(ctx.t("admin.menu"))
        for spec in table:
            if spec.name.startswith("admin "):
                lines.append(f"{spec.usage} — {ctx.t(spec.summary)} [{describe_roles(spec.roles, ctx.t)}]")
        ctx.reply("\n".join(lines))

    @r.command(
        "admin setup",
        aliases=["管理 setup", "管理 登记"],
        roles=Role.ADMIN,
        usage="/admin setup <name> [@leader]",
        summary="help.admin_setup",
        needs_group=False,
    )
    async def setup(ctx: Ctx) -> None:
        if ctx.group is not None:
            ctx.reply(ctx.t("admin.already_setup", name=ctx.group.name, id=ctx.group.id))
            return
        name = clean_line(ctx.args.text, 64)
        if not name:
            raise UsageError("")
        now = ctx.clock.now()
        leader = ctx.args.users[0] if ctx.args.users else ctx.event.sender
        group = await repo.create_group(
            ctx.store.session,
            platform=ctx.event.platform,
            chat_id=ctx.event.chat_id,
            name=name,
            now=now,
            leader_id=leader.id,
        )
        ctx.group = group
        await repo.upsert_member(ctx.store.session, group_id(group), leader.id, leader.name, now, reactivate=True)
        await _audit(ctx, "setup", {"name": name, "leader": leader.id})
        hint = "admin.setup_hint_auto" if config.bot.auto_join else "admin.setup_hint_manual"
        ctx.reply(
            ctx.t("admin.setup_done", name=name, id=group.id, leader=leader.display) + "\n" + ctx.t(hint),
            mentions=[leader],
        )

    @r.command(
        "admin leader",
        aliases=["管理 leader", "管理 组长"],
        roles=ADMIN_OR_LEADER,
        usage="/admin leader <@user>",
        summary="help.admin_leader",
    )
    async def leader(ctx: Ctx) -> None:
        new = _one_user(ctx)
        group = await _group(ctx)
        if group.leader_id == new.id:
            ctx.reply(ctx.t("admin.leader_same", leader=new.display))
            return
        old = group.leader_id
        await repo.upsert_member(ctx.store.session, group_id(group), new.id, new.name, ctx.clock.now(), reactivate=True)
        group.leader_id = new.id
        ctx.store.session.add(group)
        await _audit(ctx, "leader", {"from": old, "to": new.id})
        ctx.reply(ctx.t("admin.leader_set", leader=new.display), mentions=[new])

    @r.command(
        "admin member",
        aliases=["管理 member", "管理 成员"],
        roles=ADMIN_OR_LEADER,
        usage="/admin member <add/remove> <@user…>",
        summary="help.admin_member",
    )
    async def member(ctx: Ctx) -> None:
        action = ADD_WORDS.get(ctx.args.words[0].lower()) if len(ctx.args.words) == 1 else None
        if action is None:
            raise UsageError(ctx.args.text[:20])
        group = await _group(ctx)
        gid, now = group_id(group), ctx.clock.now()
        changed: list[User] = []
        if action == "add":
            for user in ctx.args.users:
                row, created = await repo.upsert_member(ctx.store.session, gid, user.id, user.name, now)
                if created or not row.active:
                    row.active = True
                    ctx.store.session.add(row)
                    changed.append(user)
        else:
            for user in ctx.args.users:
                if user.id == group.leader_id:
                    raise UsageError(ctx.t("admin.cannot_remove_leader", name=user.display))
            for user in ctx.args.users:
                found = await repo.get_member(ctx.store.session, gid, user.id)
                if found is None or not found.active:
                    continue
                row = found
                await _unlink(ctx, row.user_id)
                row.active = False
                ctx.store.session.add(row)
                changed.append(user)
        if not changed:
            ctx.reply(ctx.t("admin.members_unchanged"))
            return
        await _audit(ctx, f"member.{action}", {"users": [u.id for u in changed]})
        names = ctx.t("role.join").join(u.display for u in changed)
        ctx.reply(ctx.t("admin.members_added" if action == "add" else "admin.members_removed", names=names))

    @r.command(
        "admin pair",
        aliases=["管理 pair", "管理 结对"],
        roles=ADMIN_OR_LEADER,
        usage="/admin pair <@a> <@b>",
        summary="help.admin_pair",
    )
    async def pair(ctx: Ctx) -> None:
        users = list(dict.fromkeys(ctx.args.users))
        if len(ctx.args.users) != 2:
            raise UsageError(ctx.t("admin.pair_two"))
        if len(users) != 2 or users[0].id == users[1].id:
            raise UsageError(ctx.t("admin.pair_self"))
        a, b = users
        gid, now = group_id(ctx.group), ctx.clock.now()
        rows = [
            (await repo.upsert_member(ctx.store.session, gid, u.id, u.name, now, reactivate=True))[0] for u in users
        ]
        if rows[0].partner_id == b.id and rows[1].partner_id == a.id:
            ctx.reply(ctx.t("admin.paired", a=a.display, b=b.display))
            return
        dropped = [*await _unlink(ctx, a.id, keep=b.id), *await _unlink(ctx, b.id, keep=a.id)]
        rows[0].partner_id, rows[1].partner_id = b.id, a.id
        ctx.store.session.add_all(rows)
        await _audit(ctx, "pair", {"a": a.id, "b": b.id, "unpaired": dropped})
        ctx.reply(ctx.t("admin.paired", a=a.display, b=b.display), mentions=[a, b])

    @r.command(
        "admin unpair",
        aliases=["管理 unpair", "管理 解除结对"],
        roles=ADMIN_OR_LEADER,
        usage="/admin unpair <@user>",
        summary="help.admin_unpair",
    )
    async def unpair(ctx: Ctx) -> None:
        user = _one_user(ctx)
        dropped = await _unlink(ctx, user.id)
        if not dropped:
            ctx.reply(ctx.t("admin.not_paired", name=user.display))
            return
        await _audit(ctx, "unpair", {"user": user.id, "unpaired": dropped})
        ctx.reply(ctx.t("admin.unpaired", name=user.display))

    @r.command(
        "admin policy",
        aliases=["管理 policy", "管理 策略"],
        roles=Role.ADMIN,
        usage="/admin policy <high/medium/low/all> [respond=1h] [resolve=24h] [repeat=1h] [max=3] [reset]",
        summary="help.admin_policy",
    )
    async def policy(ctx: Ctx) -> None:
        words = ctx.args.words
        word = words[0].lower()
        levels = LEVELS if word in ("all", "全部") else (LEVEL_WORDS[word].value,) if word in LEVEL_WORDS else None
        if levels is None:
            raise UsageError(words[0][:20])
        group = await _group(ctx)
        current: dict[str, Any] = {k: dict(v) for k, v in (group.policy or {}).items()}
        rest = list(words[1:])
        if rest in (["reset"], ["重置"]):
            for level in levels:
                current.pop(level, None)
            changes: dict[str, Any] = {"reset": True}
        else:
            changes = _policy_changes(rest, ctx)
            for level in levels:
                merged = {**current.get(level, {}), **changes}
                _check_policy(config, level, {**current, level: merged}, ctx)
                current[level] = merged
        group.policy = current  # a new dict, so the JSON column is written
        ctx.store.session.add(group)
        await _audit(ctx, "policy", {"levels": list(levels), **changes})
        ctx.reply("\n".join([ctx.t("admin.policy_set"), *(_policy_line(config, group, lv, ctx) for lv in levels)]))

    @r.command(
        "admin calendar",
        aliases=["管理 calendar", "管理 日历"],
        roles=Role.ADMIN,
        usage="/admin calendar <always/workdays> [hours=09:00-18:00] [tz=Asia/Shanghai]",
        summary="help.admin_calendar",
    )
    async def calendar(ctx: Ctx) -> None:
        words = ctx.args.words
        kind = CALENDARS.get(words[0].lower())
        if kind is None:
            raise UsageError(words[0][:20])
        hours: str | None = None
        zone: str | None = None
        for word in words[1:]:
            key, sep, value = word.replace("＝", "=").partition("=")
            if key.lower() in ("hours", "时段") and sep:
                hours = _hours(value, ctx)
            elif key.lower() in ("tz", "时区") and sep:
                zone = _zone(value, ctx)
            else:
                raise UsageError(word[:30])
        group = await _group(ctx)
        group.calendar = kind
        if hours is not None:
            group.work_hours = hours
        if zone is not None:
            group.timezone = zone
        ctx.store.session.add(group)
        await reschedule_weekly(ctx)
        await _audit(ctx, "calendar", {"calendar": kind, "hours": hours, "tz": zone})
        ctx.reply(ctx.t("admin.calendar_set", **_calendar_fields(config, group, ctx)))

    @r.command(
        "admin escalate-to",
        aliases=["管理 escalate-to", "管理 升级群"],
        roles=Role.ADMIN,
        usage="/admin escalate-to <chat/off>",
        summary="help.admin_escalate",
    )
    async def escalate_to(ctx: Ctx) -> None:
        target = ctx.args.text
        group = await _group(ctx)
        if target.lower() in OFF_WORDS:
            group.escalate_to = None
        elif _CHAT.match(target):
            group.escalate_to = target
        else:
            raise UsageError(ctx.t("admin.bad_chat"))
        ctx.store.session.add(group)
        await _audit(ctx, "escalate-to", {"chat": group.escalate_to})
        if group.escalate_to is None:
            ctx.reply(ctx.t("admin.escalate_off"))
        else:
            ctx.reply(ctx.t("admin.escalate_set", chat=group.escalate_to))

    @r.command(
        "admin digest",
        aliases=["管理 digest", "管理 周报"],
        roles=ADMIN_OR_LEADER,
        usage="/admin digest <weekday HH:MM>",
        summary="help.admin_digest",
    )
    async def digest(ctx: Ctx) -> None:
        group = await _group(ctx)
        group.digest_at = _digest_at(ctx.args.words, ctx)
        ctx.store.session.add(group)
        await reschedule_weekly(ctx)
        await _audit(ctx, "digest", {"at": group.digest_at})
        ctx.reply(ctx.t("admin.digest_set", at=_digest_text(group.digest_at, ctx), tz=_zone_name(config, group)))

    @r.command(
        "admin admins",
        aliases=["管理 admins", "管理 管理员"],
        roles=Role.ADMIN,
        usage="/admin admins <add/remove> <@user>",
        summary="help.admin_admins",
    )
    async def admins(ctx: Ctx) -> None:
        action = ADD_WORDS.get(ctx.args.words[0].lower()) if len(ctx.args.words) == 1 else None
        if action is None:
            raise UsageError(ctx.args.text[:20])
        user = _one_user(ctx)
        now = ctx.clock.now()
        if action == "add":
            if user.id in config.bot.admins or not await admin_store.add_admin(
                ctx.store.session, user.id, ctx.event.sender.id, now
            ):
                ctx.reply(ctx.t("admin.already_admin", name=user.display))
                return
            key = "admin.admin_added"
        else:
            if user.id in config.bot.admins:
                ctx.reply(ctx.t("admin.admin_in_config", name=user.display))
                return
            if not await admin_store.remove_admin(ctx.store.session, user.id):
                ctx.reply(ctx.t("admin.not_admin", name=user.display))
                return
            key = "admin.admin_removed"
        await _audit(ctx, f"admins.{action}", {"user": user.id})
        ctx.reply(ctx.t(key, name=user.display))

    @r.command(
        "admin show",
        aliases=["管理 show", "管理 查看"],
        roles=Role.ADMIN,
        usage="/admin show",
        summary="help.admin_show",
    )
    async def show(ctx: Ctx) -> None:
        ctx.reply(await _describe(ctx, config))

    @r.command(
        "admin token",
        aliases=["管理 token", "管理 令牌"],
        roles=Role.ADMIN,
        usage="/admin token [revoke]",
        summary="help.admin_token",
    )
    async def token(ctx: Ctx) -> None:
        gid = group_id(ctx.group)
        word = ctx.args.text.lower()
        if word in ("revoke", "吊销", *OFF_WORDS):
            if await admin_store.drop_token(ctx.store.session, gid):
                await _audit(ctx, "token.revoke", {})
                ctx.reply(ctx.t("admin.token_revoked"))
            else:
                ctx.reply(ctx.t("admin.token_none"))
            return
        if word:
            raise UsageError(word[:20])
        secret, replaced = await issue_token(ctx.store.session, gid, ctx.event.sender.id, ctx.clock.now())
        await _audit(ctx, "token", {"rotated": replaced})  # never the token itself
        base = config.server.public_url.rstrip("/")
        ctx.reply(
            ctx.t(
                "admin.token_issued",
                token=secret,
                risks=base + RISKS_PATH.format(group=gid),
                alerts=base + ALERTS_PATH.format(group=gid),
            )
        )

    return r


# --- helpers ----------------------------------------------------------------------------


async def _audit(ctx: Ctx, what: str, data: dict[str, Any]) -> None:
    await repo.add_event(
        ctx.store.session,
        group_id=group_id(ctx.group),
        risk_id=None,
        actor_id=ctx.event.sender.id,
        kind=f"admin.{what}",
        at=ctx.clock.now(),
        data=data,
        message_id=ctx.event.message_id,
    )


def _one_user(ctx: Ctx) -> User:
    if len(ctx.args.users) != 1:
        raise UsageError(ctx.t("admin.one_user"))
    return ctx.args.users[0]


async def _unlink(ctx: Ctx, user_id: str, keep: str | None = None) -> list[str]:
    """Dissolve ``user_id``'s pairing (unless it is with ``keep``); the ids that lost a partner."""
    row = await repo.get_member(ctx.store.session, group_id(ctx.group), user_id)
    if row is None or not row.partner_id or row.partner_id == keep:
        return []
    dropped = [row.user_id]
    other = await admin_store.partner_of(ctx.store.session, row)
    if other is not None and other.partner_id == row.user_id:
        other.partner_id = None
        ctx.store.session.add(other)
        dropped.append(other.user_id)
    row.partner_id = None
    ctx.store.session.add(row)
    return dropped


def _policy_changes(words: list[str], ctx: Ctx) -> dict[str, Any]:
    if not words:
        raise UsageError("")
    changes: dict[str, Any] = {}
    for word in words:
        key, sep, value = word.replace("＝", "=").partition("=")
        field = POLICY_KEYS.get(key.lower())
        if field is None or not sep:
            raise UsageError(word[:30])
        if field == "max_repeats":
            if not (value.isascii() and value.isdigit() and int(value) <= MAX_REPEATS):
                raise UsageError(ctx.t("admin.bad_max", max=MAX_REPEATS))
            changes[field] = int(value)
            continue
        try:
            changes[field] = parse_duration(value).total_seconds()
        except ValueError:
            raise UsageError(ctx.t("admin.bad_duration", value=value[:20])) from None
    return changes


def _check_policy(config: Config, level: str, overrides: dict[str, Any], ctx: Ctx) -> None:
    effective = policy_for(config.escalation, level, overrides)
    if effective.respond > effective.resolve:
        raise UsageError(ctx.t("admin.respond_after_resolve"))
    if effective.repeat < MIN_REPEAT:
        raise UsageError(ctx.t("admin.repeat_too_short", min=format_duration(MIN_REPEAT)))


def _policy_line(config: Config, group: Group, level: str, ctx: Ctx) -> str:
    p = policy_for(config.escalation, level, group.policy)
    return ctx.t(
        "admin.policy_line",
        level=ctx.t(f"level.{level}"),
        respond=format_duration(p.respond),
        resolve=format_duration(p.resolve),
        repeat=format_duration(p.repeat),
        max=p.max_repeats,
    )


def _hours(value: str, ctx: Ctx) -> str:
    m = _HOURS.match(value)
    if not m:
        raise UsageError(ctx.t("admin.bad_hours"))
    start = (int(m.group(1)), int(m.group(2)))
    end = (int(m.group(3)), int(m.group(4)))
    if start >= end:
        raise UsageError(ctx.t("admin.bad_hours"))
    return f"{start[0]:02d}:{start[1]:02d}-{end[0]:02d}:{end[1]:02d}"


def _zone(value: str, ctx: Ctx) -> str:
    if len(value) > 64 or not _ZONE.match(value):
        raise UsageError(ctx.t("admin.bad_zone", zone=value[:40]))
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(ctx.t("admin.bad_zone", zone=value[:40])) from None
    return value


def _digest_at(words: tuple[str, ...], ctx: Ctx) -> str:
    if len(words) == 1:  # "周五17:00" or "fri@17:00"
        m = re.match(r"^(\D+?)[@T]?(\d{1,2}[:：]\d{2})$", words[0])
        words = (m.group(1), m.group(2)) if m else words
    if len(words) != 2:
        raise UsageError("")
    day = _WEEKDAY_WORDS.get(words[0].lower())
    m = _CLOCK.match(words[1])
    if day is None or m is None:
        raise UsageError(ctx.t("admin.bad_digest"))
    return f"{day} {int(m.group(1)):02d}:{m.group(2)}"


def _digest_text(value: str, ctx: Ctx) -> str:
    day, _, clock = value.partition(" ")
    return f"{ctx.t(f'weekday.{day}')} {clock}" if day in WEEKDAYS else value


def _zone_name(config: Config, group: Group) -> str:
    return group.timezone or config.bot.timezone


def _calendar_fields(config: Config, group: Group, ctx: Ctx) -> dict[str, str]:
    kind = group.calendar or config.escalation.calendar
    return {
        "calendar": ctx.t(f"calendar.{kind}"),
        "hours": group.work_hours or config.escalation.work_hours,
        "tz": _zone_name(config, group),
    }


async def _describe(ctx: Ctx, config: Config) -> str:
    t = ctx.t
    group = await _group(ctx)
    gid = group_id(group)
    names = await roster(ctx.store.session, group)
    members = await repo.members(ctx.store.session, gid)
    zone = ZoneInfo(_zone_name(config, group))
    leader = person(group.leader_id, names).display if group.leader_id else t("admin.nobody")
    member_parts = []
    for m in members:
        label = m.name or person(m.user_id, names).display
        if m.partner_id:
            label += t("admin.partner_suffix", partner=person(m.partner_id, names).display)
        member_parts.append(label)
    token = await admin_store.get_token(ctx.store.session, gid)
    stored = [a.user_id for a in await admin_store.stored_admins(ctx.store.session)]
    admin_names = [person(a, names).display for a in dict.fromkeys([*config.bot.admins, *stored])]
    digest = group.digest_at or config.digest.weekly
    token_state = t("admin.token_set", at=_at(token.created_at, zone)) if token else t("admin.token_unset")
    lines = [
        t("admin.show_title", name=group.name, id=gid, chat=f"{group.platform}:{group.chat_id}"),
        t("admin.show_leader", leader=leader),
        t("admin.show_members", count=len(members), members=t("role.join").join(member_parts) or t("admin.nobody")),
        t("admin.show_calendar", **_calendar_fields(config, group, ctx)),
        t("admin.show_policy"),
        *(f"  {_policy_line(config, group, level, ctx)}" for level in LEVELS),
        t("admin.show_escalate", chat=group.escalate_to or t("admin.nobody")),
        t("admin.show_digest", at=_digest_text(digest, ctx)),
        t("admin.show_token", state=token_state),
        t("admin.show_admins", admins=t("role.join").join(admin_names) or t("admin.nobody")),
    ]
    return "\n".join(lines)


def _at(moment: datetime, zone: ZoneInfo) -> str:
    return local_time(moment, zone)


async def _group(ctx: Ctx) -> Group:
    """The group as an ORM object, for commands that change it; ``ctx.group`` becomes that object."""
    group = ctx.group if isinstance(ctx.group, Group) else await ctx.store.session.get(Group, ctx.group.id)
    assert group is not None  # the dispatcher found it in this transaction
    ctx.group = group
    return group
