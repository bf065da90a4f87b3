"""What an escalation says and to whom: the scheduler decides *when*, this decides *what*.

:class:`EscalationMessages` turns a :class:`~hubao.scheduler.escalation.Step` into outbox
messages keyed ``esc:{risk_id}:{epoch}:{step}:{repeat}`` (the group ping) and the same key
with ``:chat`` (the post to the group's escalation chat), so a step queued twice is sent once.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.config import Config
from hubao.bot.events import Lane, OutboundMessage, User
from hubao.bot.i18n import Catalog
from hubao.handlers.common import age_text, group_zone, local_time, person, risk_buttons, risk_summary
from hubao.scheduler.escalation import RESPOND, Audience, Step
from hubao.storage import repo, schedule
from hubao.storage.models import Group, Member, Risk

# A ping this much later than its rung (beyond calendar and snooze holds) says it is late.
LATE_AFTER = timedelta(minutes=5)

Keyed = tuple[str, OutboundMessage]


def step_key(risk: Risk, step: Step) -> str:
    return f"esc:{risk.id}:{risk.clock_epoch}:{step.step}:{step.repeat}"


class EscalationMessages:
    def __init__(self, config: Config) -> None:
        self.config = config
        # Members and admins read once per sweep transaction, not once per risk.
        self._cache: weakref.WeakKeyDictionary[AsyncSession, dict[object, Any]] = weakref.WeakKeyDictionary()

    def catalog(self, group: Group) -> Catalog:
        return Catalog(group.locale or self.config.bot.locale)

    async def admins(self, session: AsyncSession) -> list[str]:
        cache = self._cache.setdefault(session, {})
        if "admins" not in cache:
            cache["admins"] = list(dict.fromkeys([*self.config.bot.admins, *await schedule.stored_admins(session)]))
        return list(cache["admins"])

    async def members(self, session: AsyncSession, group_id: int) -> list[Member]:
        cache = self._cache.setdefault(session, {})
        if group_id not in cache:
            cache[group_id] = await repo.members(session, group_id, active_only=False)
        return list(cache[group_id])

    async def __call__(
        self, session: AsyncSession, risk: Risk, group: Group, step: Step, now: datetime, expected: datetime
    ) -> list[Keyed]:
        """The messages of ``step``; ``expected`` is when it could first have gone out."""
        t = self.catalog(group)
        zone = group_zone(group, self.config)
        members = await self.members(session, risk.group_id)
        names = {m.user_id: User(m.user_id, m.name) for m in members}
        pinged = await self.recipients(session, risk, group, step, members)

        if step.step == RESPOND:
            waited = age_text(now - risk.created_at, t)
            key = "esc.respond" if step.repeat == 1 else "esc.respond_repeat"
            headline = t(key, number=risk.number, waited=waited, n=step.repeat)
        elif step.repeat == 1:
            headline = t("esc.resolve", number=risk.number, due=local_time(risk.resolve_by, zone))
        else:
            overdue = age_text(now - risk.resolve_by, t)
            headline = t("esc.resolve_repeat", number=risk.number, overdue=overdue, n=step.repeat)
        lines = [headline]
        late = now - expected
        if late > LATE_AFTER:
            lines.append(t("esc.late", late=age_text(late, t)))
        if step.skipped:
            lines.append(t("esc.folded", n=step.skipped))
        lines.append(risk_summary(risk, names, t, zone))
        ping = OutboundMessage(
            platform=group.platform,
            chat_id=group.chat_id,
            text="\n".join(lines),
            mentions=tuple(person(uid, names) for uid in pinged),
            mention_all=step.mention_all,
            buttons=risk_buttons(risk, t),
            lane=Lane.URGENT,
        )
        out: list[Keyed] = [(step_key(risk, step), ping)]
        chat = group.escalate_to
        if Audience.ESCALATION_CHAT in step.audience and chat and chat != group.chat_id:
            head = t("esc.chat", group=group.name, number=risk.number, overdue=age_text(now - risk.resolve_by, t))
            post = OutboundMessage(
                platform=group.platform,
                chat_id=chat,
                text=head + "\n" + risk_summary(risk, names, t, zone),
                lane=Lane.URGENT,
            )
            out.append((step_key(risk, step) + ":chat", post))
        return out

    async def recipients(
        self, session: AsyncSession, risk: Risk, group: Group, step: Step, members: Sequence[Member]
    ) -> list[str]:
        """User ids to @-mention in the group, in ladder order, each once."""
        ids: list[str | None] = []
        if Audience.OWNER in step.audience:
            ids.append(risk.owner_id)
        if Audience.PARTNER in step.audience:
            ids.extend(partners_of(risk.owner_id, members))
        if Audience.LEADER in step.audience:
            ids.append(group.leader_id)
        if Audience.ADMINS in step.audience:
            prefix = f"{group.platform}:"  # a user of another platform cannot be @-mentioned here
            ids.extend(a for a in await self.admins(session) if a.startswith(prefix))
        return [uid for uid in dict.fromkeys(ids) if uid]


def partners_of(owner_id: str, members: Sequence[Member]) -> list[str]:
    """The owner's partner(s): whom the owner names, and whoever names the owner (active only)."""
    active = {m.user_id: m for m in members if m.active}
    found: list[str] = []
    owner = active.get(owner_id)
    if owner is not None and owner.partner_id and owner.partner_id in active:
        found.append(owner.partner_id)
    found.extend(m.user_id for m in active.values() if m.partner_id == owner_id and m.user_id != owner_id)
    return list(dict.fromkeys(found))
