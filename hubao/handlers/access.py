"""Who someone is, decided in one place: the storage side of dispatch.

Implements :class:`hubao.bot.dispatch.Backend`: delivery de-duplication, the group a chat
belongs to, automatic membership, @name resolution, the actor's roles, and the outbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.clock import Clock
from hubao.bot.config import Config
from hubao.bot.dispatch import RiskNotFound
from hubao.bot.events import InboundEvent, OutboundMessage, User
from hubao.bot.i18n import Catalog
from hubao.bot.router import Role
from hubao.handlers import pledge
from hubao.storage import records, repo
from hubao.storage.db import Database
from hubao.storage.records import GroupRow, MemberRow
from hubao.storage.tx import Tx


class StoreBackend:
    def __init__(self, db: Database, config: Config, clock: Clock) -> None:
        self.db = db
        self.config = config
        self.clock = clock

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        return self.db.command()

    async def first_delivery(self, tx: Tx, key: str) -> bool:
        return await records.record_delivery(tx, key, self.clock.now())

    async def hold_delivery(self, tx: Tx, key: str, event: str) -> bool:
        return await records.hold_delivery(tx, key, self.clock.now(), event)

    async def held_deliveries(self, tx: Tx, stored_before: datetime, limit: int) -> list[tuple[str, str]]:
        return await records.held_deliveries(tx, stored_before, limit)

    async def load_group(self, tx: Tx, event: InboundEvent) -> GroupRow | None:
        return await records.group_by_chat(tx, event.platform, event.chat_id)

    def locale_of(self, group: GroupRow | None) -> str:
        return (group.locale if group is not None and group.locale else None) or self.config.bot.locale

    async def enroll(self, tx: Tx, group: GroupRow, user: User) -> None:
        if self.config.bot.auto_join:
            joining = user.id not in await records.roster(tx, group.id)
            await records.enrol(tx, group.id, user.id, user.name, self.clock.now())
            if joining:  # a newcomer is asked to confirm the group's pledge, if it has one
                await pledge.ask_new_member(tx, group, user, self.clock.now(), Catalog(self.locale_of(group)))
        elif user.name:
            member = (await records.roster(tx, group.id)).get(user.id)
            if member is not None and member.name != user.name:
                await records.rename(tx, member, user.name)

    async def resolve_names(self, tx: Tx, group: GroupRow | None, names: Sequence[str]) -> list[User]:
        if group is None:
            return []
        roster = [m for m in (await records.roster(tx, group.id)).values() if m.active]
        found: list[User] = []
        for name in names:
            match = next((m for m in roster if name in (m.name, m.user_id, m.user_id.split(":", 1)[-1])), None)
            if match is not None:
                found.append(User(match.user_id, match.name or name))
        return found

    async def roles_of(self, tx: Tx, group: GroupRow | None, user: User, risk_number: int | None) -> Role:
        roles = Role.ANYONE
        if user.id in self.config.bot.admins or await records.is_admin(tx, user.id):
            roles |= Role.ADMIN
        if group is None:
            return roles
        roster = await records.roster(tx, group.id)
        member = roster.get(user.id)
        if member is not None and member.active:
            roles |= Role.MEMBER
        if group.leader_id == user.id:
            roles |= Role.LEADER
        if risk_number is not None:
            # Locked now: the command acts on the row it was allowed for.
            risk = await records.risk_by_number(tx, group.id, risk_number, for_update=True)
            if risk is None:
                raise RiskNotFound(risk_number)
            if risk.owner_id == user.id:
                roles |= Role.OWNER
            if risk.reporter_id == user.id:
                roles |= Role.REPORTER
            if _partners(roster, user.id, risk.owner_id):
                roles |= Role.PARTNER
        return roles

    async def enqueue(self, tx: Tx, messages: Sequence[OutboundMessage], key_prefix: str) -> None:
        await records.enqueue(tx, keyed(messages, key_prefix), now=self.clock.now())


def _partners(roster: Mapping[str, MemberRow], user_id: str, owner_id: str) -> bool:
    """Whether ``user_id`` is the partner of ``owner_id`` (either of the two may have named the other)."""
    if user_id == owner_id:
        return False
    owner = roster.get(owner_id)
    if owner is not None and owner.partner_id == user_id:
        return True
    member = roster.get(user_id)
    return member is not None and member.partner_id == owner_id


async def enqueue_messages(
    session: AsyncSession,
    messages: Iterable[OutboundMessage],
    key_prefix: str,
    now: datetime,
    not_before: datetime | None = None,
) -> None:
    """Queue messages under keys derived from their cause, so a repeated cause queues nothing new."""
    await repo.enqueue(session, keyed(messages, key_prefix), now=now, not_before=not_before)


def keyed(messages: Iterable[OutboundMessage], key_prefix: str) -> list[tuple[str, dict[str, Any], int]]:
    """Outbox items (idempotency key, payload, lane) under keys derived from their cause."""
    return [(f"{key_prefix}:{i}", m.to_json(), int(m.lane)) for i, m in enumerate(messages)]
