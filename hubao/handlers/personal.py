"""Personal escalation: at the configured steps the people a ping names are also reached directly.

Which steps: ``[personal] steps`` (default ``urgent`` — the /urgent post — and ``resolve:1``, the
first ping after the resolve window). How: each platform's settings say which kinds of direct
reach are on for a level (``personal_kinds``; all off until configured). What: one outbox message
per kind beside the group ping (see :mod:`hubao.bot.personal`), keyed by the ping's key and the
kind, so each step reaches each person once however often the step is queued. ``/me notify off``
(``/我的 提醒 关``) keeps a member out of direct messages for non-urgent steps; urgent ones always go.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot import personal as kernel
from hubao.bot.config import Config
from hubao.bot.events import Lane, OutboundMessage, User
from hubao.bot.i18n import Catalog
from hubao.bot.router import CommandContext, Role, Router, UsageError
from hubao.handlers.common import audit
from hubao.storage.models import NotifyOptOut
from hubao.storage.records import GroupRecord
from hubao.storage.tx import Tx

Ctx = CommandContext[Tx]
Keyed = tuple[str, OutboundMessage]
ON_WORDS = {"on": True, "开": True, "开启": True, "打开": True, "off": False, "关": False, "关闭": False}


def step_wanted(config: Config, step: str, repeat: int = 0) -> bool:
    """Whether step ``step`` (urgent, respond, resolve) with ping number ``repeat`` reaches people."""
    return any(s == step or s == f"{step}:{repeat}" for s in config.personal.steps)


def kinds_for(config: Config, platform: str, level: str) -> list[str]:
    """The kinds of direct reach the platform's settings turn on for ``level`` (none by default)."""
    section = config.platforms.get(platform)
    kinds = getattr(section, "personal_kinds", None)
    return list(kinds(level)) if callable(kinds) else []


async def opted_out(tx: Tx, user_ids: Sequence[str]) -> set[str]:
    if not user_ids:
        return set()
    marks = ", ".join("?" * len(user_ids))
    rows = await tx.fetch(f"SELECT user_id FROM notify_opt_outs WHERE user_id IN ({marks})", *user_ids)
    return {str(row[0]) for row in rows}


def stamped(ping: OutboundMessage, ping_key: str) -> OutboundMessage:
    """The ping carrying its own platform idempotency key, so a personal message can find it."""
    return replace(ping, reply_handle={**ping.reply_handle, "idempotency_key": ping_key})


async def personal_messages(
    tx: Tx,
    config: Config,
    group: GroupRecord,
    *,
    ping_key: str,
    ping: OutboundMessage,
    people: Iterable[User],
    level: str,
    urgent: bool,
) -> list[Keyed]:
    """The direct messages that go with ``ping`` (already stamped with ``ping_key``)."""
    kinds = kinds_for(config, group.platform, level)
    prefix = f"{group.platform}:"
    reach = [u for u in dict.fromkeys(people) if u.id.startswith(prefix)]
    if not kinds or not reach:
        return []
    if not urgent:  # only urgent steps reach those who opted out
        out = await opted_out(tx, [u.id for u in reach])
        reach = [u for u in reach if u.id not in out]
        if not reach:
            return []
    t = Catalog(group.locale or config.bot.locale)
    text = t("personal.text", group=group.name, text=ping.text)
    return [
        (
            f"{ping_key}:personal:{kind}",
            OutboundMessage(
                platform=group.platform,
                chat_id=group.chat_id,
                text=text,
                title=t("personal.title", group=group.name),
                mentions=tuple(reach),
                lane=Lane.URGENT,
                reply_handle=kernel.handle(kind, level, ping),
            ),
        )
        for kind in kinds
    ]


def router(config: Config) -> Router:
    r = Router()

    @r.command(
        "me notify",
        aliases=["我的 提醒", "me 提醒"],
        roles=Role.MEMBER,
        usage="/me notify <on|off>",
        summary="help.me_notify",
    )
    async def notify(ctx: Ctx) -> None:
        word = ctx.args.text.strip().lower()
        if word not in ON_WORDS:
            raise UsageError(word[:20])
        session: AsyncSession = ctx.store.session
        user_id = ctx.event.sender.id
        now: datetime = ctx.clock.now()
        mark = await session.get(NotifyOptOut, user_id)
        on = ON_WORDS[word]
        if on and mark is not None:
            await session.delete(mark)
        elif not on and mark is None:
            session.add(NotifyOptOut(user_id=user_id, at=now))
        await session.flush()
        await audit(ctx, "me.notify", {"on": on})
        ctx.reply(ctx.t("personal.notify_on" if on else "personal.notify_off"))

    return r
