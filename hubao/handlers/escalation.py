"""What an escalation says and to whom: the scheduler decides *when*, this decides *what*.

:class:`EscalationMessages` turns a :class:`~hubao.scheduler.escalation.Step` into outbox
messages keyed ``esc:{risk_id}:{epoch}:{step}:{repeat}`` (the group ping) and the same key
with ``:chat`` (the post to the group's escalation chat), so a step queued twice is sent once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from hubao.bot.config import Config
from hubao.bot.events import Lane, OutboundMessage, User
from hubao.bot.i18n import Catalog
from hubao.handlers import personal
from hubao.handlers.common import age_text, group_zone, local_time, person, risk_buttons, risk_summary
from hubao.scheduler.escalation import RESPOND, Audience, Step
from hubao.storage import sweep_sql
from hubao.storage.records import GroupRecord, MemberRow, RiskRecord
from hubao.storage.tx import Tx

# A ping this much later than its rung (beyond calendar and snooze holds) says it is late.
LATE_AFTER = timedelta(minutes=5)

Keyed = tuple[str, OutboundMessage]


def step_key(risk: RiskRecord, step: Step) -> str:
    return f"esc:{risk.id}:{risk.clock_epoch}:{step.step}:{step.repeat}"


class EscalationMessages:
    def __init__(self, config: Config) -> None:
        self.config = config

    def catalog(self, group: GroupRecord) -> Catalog:
        return Catalog(group.locale or self.config.bot.locale)

    async def admins(self, tx: Tx) -> list[str]:
        """Configured admins, then those added from chat (read once per sweep transaction)."""
        return list(dict.fromkeys([*self.config.bot.admins, *await sweep_sql.admin_ids(tx)]))

    async def __call__(
        self, tx: Tx, risk: RiskRecord, group: GroupRecord, step: Step, now: datetime, expected: datetime
    ) -> list[Keyed]:
        """The messages of ``step``; ``expected`` is when it could first have gone out."""
        t = self.catalog(group)
        zone = group_zone(group, self.config)
        members = await sweep_sql.members(tx, risk.group_id)  # read once per group and sweep transaction
        names = {m.user_id: User(m.user_id, m.name) for m in members}
        pinged = await self.recipients(tx, risk, group, step, members)

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
        ping_key = step_key(risk, step)
        out: list[Keyed] = [(ping_key, ping)]
        if personal.step_wanted(self.config, step.step, step.repeat) and ping.mentions:
            ping = personal.stamped(ping, ping_key)  # the personal messages point back at this ping
            out = [(ping_key, ping)]
            out += await personal.personal_messages(
                tx, self.config, group, ping_key=ping_key, ping=ping, people=ping.mentions,
                level=risk.level, urgent=risk.urgent,
            )  # fmt: skip
        chat = group.escalate_to
        if Audience.ESCALATION_CHAT in step.audience and chat and chat != group.chat_id:
            head = t("esc.chat", group=group.name, number=risk.number, overdue=age_text(now - risk.resolve_by, t))
            post = OutboundMessage(
                platform=group.platform,
                chat_id=chat,
                text=head + "\n" + risk_summary(risk, names, t, zone),
                lane=Lane.URGENT,
            )
            out.append((ping_key + ":chat", post))
        if step.step != RESPOND and step.repeat == 1 and (asked := await sweep_sql.asker_of(tx, risk.id)):
            asker, requested_by = asked
            known = {m.user_id: User(m.user_id, m.name) for m in await sweep_sql.members(tx, asker.id)}
            back = self.overdue_back(risk, group, asker, person(requested_by, known))
            out.append((ping_key + ":asker", back))
        return out

    def overdue_back(
        self, risk: RiskRecord, group: GroupRecord, asker: GroupRecord, requester: User
    ) -> OutboundMessage:
        """A cross-group request passed its resolve window: the asking group hears it once."""
        t = self.catalog(asker)
        zone = group_zone(asker, self.config)
        text = t("request.back_overdue", ref=f"{group.name}#{risk.number}", content=risk.content,
                 due=local_time(risk.resolve_by, zone))  # fmt: skip
        return OutboundMessage(
            platform=asker.platform, chat_id=asker.chat_id, text=text, mentions=(requester,), lane=Lane.URGENT,
        )  # fmt: skip

    async def recipients(
        self, tx: Tx, risk: RiskRecord, group: GroupRecord, step: Step, members: Sequence[MemberRow]
    ) -> list[str]:
        """User ids to @-mention in the group, in ladder order, each once."""
        ids: list[str | None] = []
        if Audience.OWNER in step.audience:
            ids.append(risk.owner_id)
            if step.step == RESPOND and step.repeat == 1:  # the first step also calls whoever is on duty
                ids.append(await sweep_sql.on_duty(tx, risk.group_id))
        if Audience.PARTNER in step.audience:
            ids.extend(partners_of(risk.owner_id, members))
        if Audience.LEADER in step.audience:
            ids.append(group.leader_id)
        if Audience.ADMINS in step.audience:
            prefix = f"{group.platform}:"  # a user of another platform cannot be @-mentioned here
            ids.extend(a for a in await self.admins(tx) if a.startswith(prefix))
        return [uid for uid in dict.fromkeys(ids) if uid]


def partners_of(owner_id: str, members: Sequence[MemberRow]) -> list[str]:
    """The owner's partner(s): whom the owner names, and whoever names the owner (active only)."""
    active = {m.user_id: m for m in members if m.active}
    found: list[str] = []
    owner = active.get(owner_id)
    if owner is not None and owner.partner_id and owner.partner_id in active:
        found.append(owner.partner_id)
    found.extend(m.user_id for m in active.values() if m.partner_id == owner_id and m.user_id != owner_id)
    return list(dict.fromkeys(found))
