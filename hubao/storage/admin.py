"""Queries behind /admin and the external intake: bot admins, group API tokens, external refs."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.storage import repo
from hubao.storage.models import ApiToken, BotAdmin, ExternalRef, Member


async def stored_admins(session: AsyncSession) -> list[BotAdmin]:
    return list((await session.exec(select(BotAdmin).order_by(col(BotAdmin.added_at)))).all())


async def add_admin(session: AsyncSession, user_id: str, added_by: str, now: datetime) -> bool:
    """Add a bot admin; False if already stored."""
    if await session.get(BotAdmin, user_id) is not None:
        return False
    session.add(BotAdmin(user_id=user_id, added_by=added_by, added_at=now))
    await session.flush()
    return True


async def remove_admin(session: AsyncSession, user_id: str) -> bool:
    row = await session.get(BotAdmin, user_id)
    if row is None:
        return False
    await session.delete(row)
    await session.flush()
    return True


async def partner_of(session: AsyncSession, member: Member) -> Member | None:
    if not member.partner_id:
        return None
    return await repo.get_member(session, member.group_id, member.partner_id)


async def get_token(session: AsyncSession, group_id: int) -> ApiToken | None:
    return await session.get(ApiToken, group_id)


async def set_token(session: AsyncSession, group_id: int, token_hash: str, actor: str, now: datetime) -> bool:
    """Store the hash of a group's new token; True if it replaced an older one."""
    row = await session.get(ApiToken, group_id)
    replaced = row is not None
    if row is None:
        row = ApiToken(group_id=group_id, token_hash=token_hash, created_by=actor, created_at=now)
    else:
        row.token_hash, row.created_by, row.created_at = token_hash, actor, now
    session.add(row)
    await session.flush()
    return replaced


async def drop_token(session: AsyncSession, group_id: int) -> bool:
    row = await session.get(ApiToken, group_id)
    if row is None:
        return False
    await session.delete(row)
    await session.flush()
    return True


async def get_ref(session: AsyncSession, group_id: int, source: str, ref: str) -> ExternalRef | None:
    stmt = select(ExternalRef).where(
        ExternalRef.group_id == group_id, ExternalRef.source == source, ExternalRef.ref == ref
    )
    return (await session.exec(stmt)).first()


async def link_ref(session: AsyncSession, group_id: int, source: str, ref: str, risk_id: int, now: datetime) -> None:
    """Point ``ref`` at ``risk_id`` (a fingerprint that fires again points at its new risk)."""
    row = await get_ref(session, group_id, source, ref)
    if row is None:
        row = ExternalRef(group_id=group_id, source=source, ref=ref, risk_id=risk_id, updated_at=now)
    else:
        row.risk_id, row.updated_at = risk_id, now
    session.add(row)
    await session.flush()
