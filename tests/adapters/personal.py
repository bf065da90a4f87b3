"""What the personal-escalation tests of every platform share: a group with members, a message, the outbox."""

from __future__ import annotations

from sqlmodel import select

from hubao.app import App
from hubao.bot.events import InboundEvent, User
from hubao.storage import repo
from hubao.storage.models import Outbox


async def group_with_members(app: App, platform: str, chat: str, leader: User, members: tuple[User, ...]) -> None:
    """The group ``互保一组`` led by ``leader``, with ``members`` on its roster."""
    group = await app.register_group(platform, chat, "互保一组", leader=leader)
    async with app.db.transaction() as session:
        for user in members:
            await repo.upsert_member(session, group.id or 0, user.id, user.name, app.clock.now())


async def say(app: App, platform: str, chat: str, user: User, text: str, message_id: str) -> None:
    """``user`` writes ``text`` in the group; the bot answers and delivers what it queued."""
    event = InboundEvent(platform=platform, chat_id=chat, sender=user, text=text, message_id=message_id,
                         time=app.clock.now())  # fmt: skip
    await app.dispatch(event)
    await app.deliver()


async def outbox(app: App) -> list[Outbox]:
    async with app.db.transaction() as session:
        return list((await session.exec(select(Outbox))).all())
