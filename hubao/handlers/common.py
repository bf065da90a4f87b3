"""Small helpers shared by feature handlers: names, local times, the risk card."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.config import Config
from hubao.bot.events import Button, User
from hubao.bot.i18n import Catalog
from hubao.bot.router import CommandContext
from hubao.storage import records, repo
from hubao.storage.records import GroupRecord, RiskRecord
from hubao.storage.tx import Tx

MAX_CONTENT = 500


def group_zone(group: GroupRecord | None, config: Config) -> ZoneInfo:
    return ZoneInfo((group.timezone if group is not None and group.timezone else None) or config.bot.timezone)


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """``MM-DD HH:MM`` in ``zone`` (formatted by hand: strftime is several times slower)."""
    local = moment.astimezone(zone)
    return f"{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d}"


def group_id(group: GroupRecord) -> int:
    assert group.id is not None
    return group.id


async def roster(session: AsyncSession, group: GroupRecord) -> dict[str, User]:
    """Everyone the group knows, by user id, with display names."""
    return {m.user_id: User(m.user_id, m.name) for m in await repo.members(session, group_id(group), active_only=False)}


def person(user_id: str, names: dict[str, User]) -> User:
    return names.get(user_id) or User(user_id, "")


def level_label(level: str, t: Catalog) -> str:
    return t(f"level.{level}")


def risk_buttons(risk: RiskRecord, t: Catalog) -> tuple[Button, ...]:
    if risk.status == "resolved":
        return ()
    actions = ("ack", "resolve", "snooze") if risk.status == "open" else ("resolve", "snooze")
    return tuple(Button(a, risk.number, t(f"button.{a}")) for a in actions)


def risk_summary(risk: RiskRecord, names: dict[str, User], t: Catalog, zone: ZoneInfo) -> str:
    """The lines that describe a risk's state; shared by replies, cards and escalations."""
    owner = person(risk.owner_id, names)
    lines = [t("risk.headline", number=risk.number, level=level_label(risk.level, t), content=risk.content)]
    status = t(f"status.{risk.status}")
    if risk.status == "resolved":
        lines.append(t("risk.line_resolved", owner=owner.display, status=status))
    else:
        lines.append(
            t(
                "risk.line_open",
                owner=owner.display,
                status=status,
                respond_by=local_time(risk.respond_by, zone),
                resolve_by=local_time(risk.resolve_by, zone),
            )
        )
    if risk.snoozed_until is not None and risk.status != "resolved":
        lines.append(t("risk.line_snoozed", until=local_time(risk.snoozed_until, zone)))
    if risk.tags:
        lines.append(t("risk.line_tags", tags=" ".join(f"#{tag}" for tag in risk.tags)))
    return "\n".join(lines)


def age_text(delta: timedelta, t: Catalog) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return t("age.minutes", n=minutes)
    if minutes < 60 * 48:
        return t("age.hours", n=minutes // 60)
    return t("age.days", n=minutes // 1440)


async def audit(
    ctx: CommandContext[Tx], kind: str, data: dict[str, object], risk_id: int | None = None
) -> None:
    """Record what the command did as an event of its group: who, when, from which message."""
    await records.add_event(
        ctx.store, group_id=group_id(ctx.group), risk_id=risk_id, actor_id=ctx.event.sender.id, kind=kind,
        at=ctx.clock.now(), data=data, message_id=ctx.event.message_id,
    )  # fmt: skip
