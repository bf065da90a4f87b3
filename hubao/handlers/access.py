"""Who someone is, decided in one place: the storage side of dispatch.

Implements :class:`hubao.bot.dispatch.Backend`: delivery de-duplication, the group a chat
belongs to, automatic membership, @name resolution, the actor's roles, and the outbox.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.clock import Clock
from hubao.bot.config import Config
from hubao.bot.dispatch import RiskNotFound
from hubao.bot.events import InboundEvent, OutboundMessage, User
from hubao.bot.router import Role
from hubao.storage import repo
from hubao.storage.db import Database
from hubao.storage.models import Group


class StoreBackend:
    def __init__(self, db: Database, config: Config, clock: Clock) -> None:
        self.db = db
        self.config = config
        self.clock = clock

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.db.transaction() as session:
            yield session

    async def first_delivery(self, session: AsyncSession, key: str) -> bool:
        return await repo.record_delivery(session, key, self.clock.now())

    async def load_group(self, session: AsyncSession, event: InboundEvent) -> Group | None:
        return await repo.get_group(session, event.platform, event.chat_id)

    def locale_of(self, group: Group | None) -> str:
        return (group.locale if group is not None and group.locale else None) or self.config.bot.locale

    async def enroll(self, session: AsyncSession, group: Group, user: User) -> None:
        if self.config.bot.auto_join:
            await repo.upsert_member(session, _id(group), user.id, user.name, self.clock.now())
        elif user.name:
            member = await repo.get_member(session, _id(group), user.id)
            if member is not None and member.name != user.name:
                member.name = user.name
                session.add(member)

    async def resolve_names(self, session: AsyncSession, group: Group | None, names: Sequence[str]) -> list[User]:
        if group is None:
            return []
        roster = await repo.members(session, _id(group))
        found: list[User] = []
        for name in names:
            match = next((m for m in roster if name in (m.name, m.user_id, m.user_id.split(":", 1)[-1])), None)
            if match is not None:
                found.append(User(match.user_id, match.name or name))
        return found

    async def roles_of(self, session: AsyncSession, group: Group | None, user: User, risk_number: int | None) -> Role:
        roles = Role.ANYONE
        if user.id in self.config.bot.admins or await repo.is_bot_admin(session, user.id):
            roles |= Role.ADMIN
        if group is None:
            return roles
        member = await repo.get_member(session, _id(group), user.id)
        if member is not None and member.active:
            roles |= Role.MEMBER
        if group.leader_id == user.id:
            roles |= Role.LEADER
        if risk_number is not None:
            risk = await repo.get_risk(session, _id(group), risk_number)
            if risk is None:
                raise RiskNotFound(risk_number)
            if risk.owner_id == user.id:
                roles |= Role.OWNER
            if risk.reporter_id == user.id:
                roles |= Role.REPORTER
            if await is_partner(session, _id(group), user.id, risk.owner_id):
                roles |= Role.PARTNER
        return roles

    async def enqueue(self, session: AsyncSession, messages: Sequence[OutboundMessage], key_prefix: str) -> None:
        await enqueue_messages(session, messages, key_prefix, self.clock.now())


async def is_partner(session: AsyncSession, group_id: int, user_id: str, owner_id: str) -> bool:
    if user_id == owner_id:
        return False
    owner = await repo.get_member(session, group_id, owner_id)
    if owner is not None and owner.partner_id == user_id:
        return True
    member = await repo.get_member(session, group_id, user_id)
    return member is not None and member.partner_id == owner_id


async def enqueue_messages(
    session: AsyncSession,
    messages: Iterable[OutboundMessage],
    key_prefix: str,
    now: datetime,
    not_before: datetime | None = None,
) -> None:
    """Queue messages under keys derived from their cause, so a repeated cause queues nothing new."""
    items = [(f"{key_prefix}:{i}", m.to_json(), int(m.lane)) for i, m in enumerate(messages)]
    await repo.enqueue(session, items, now=now, not_before=not_before)


def _id(group: Group) -> int:
    assert group.id is not None
    return group.id
