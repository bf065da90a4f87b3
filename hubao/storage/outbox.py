"""The outbox table as the delivery worker sees it (implements bot.delivery.OutboxStore)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from hubao.bot.delivery import OutboxItem
from hubao.bot.events import OutboundMessage
from hubao.storage import repo
from hubao.storage.db import Database
from hubao.storage.models import Outbox

CLAIM_TTL = timedelta(minutes=2)


class SqlOutbox:
    def __init__(self, db: Database, instance_id: str = "local") -> None:
        self.db = db
        self.instance_id = instance_id

    async def claim(self, now: datetime, limit: int) -> Sequence[OutboxItem]:
        async with self.db.transaction() as session:
            stmt = (
                select(Outbox)
                .where(
                    col(Outbox.next_attempt_at) <= now,
                    or_(
                        col(Outbox.state) == "pending",
                        # a worker that died mid-send leaves its claim to expire
                        (col(Outbox.state) == "sending") & (col(Outbox.claimed_until) <= now),
                    ),
                )
                .order_by(col(Outbox.lane), col(Outbox.next_attempt_at), col(Outbox.id))
                .limit(limit)
            )
            if not self.db.is_sqlite:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = list((await session.exec(stmt)).all())
            for row in rows:
                row.state, row.claimed_by, row.claimed_until = "sending", self.instance_id, now + CLAIM_TTL
                session.add(row)
            return [
                OutboxItem(
                    row.id or 0,
                    row.key,
                    row.lane,
                    row.attempts,
                    OutboundMessage.from_json(row.payload),
                    claimed_until=now + CLAIM_TTL,
                )
                for row in rows
            ]

    async def sent(self, item: OutboxItem, now: datetime) -> None:
        await self._update(item, state="sent", sent_at=now, attempts=item.attempts + 1, claimed_until=None)

    async def retry(self, item: OutboxItem, at: datetime, error: str, *, count_attempt: bool = True) -> None:
        await self._update(
            item,
            state="pending",
            next_attempt_at=at,
            last_error=error[:500],
            attempts=item.attempts + (1 if count_attempt else 0),
            claimed_until=None,
        )

    async def dead(self, item: OutboxItem, now: datetime, error: str) -> None:
        await self._update(item, state="dead", last_error=error[:500], attempts=item.attempts + 1, claimed_until=None)

    async def split(self, item: OutboxItem, parts: Sequence[OutboundMessage], now: datetime) -> None:
        async with self.db.transaction() as session:
            # Parts keep the lane; the creation order (ids) keeps them in sequence.
            await repo.enqueue(
                session, [(f"{item.key}#{i + 1}", p.to_json(), item.lane) for i, p in enumerate(parts)], now=now
            )
            await session.exec(  # type: ignore[call-overload]
                update(Outbox).where(*self._mine(item)).values(state="split", claimed_until=None)
            )

    def _mine(self, item: OutboxItem) -> tuple[ColumnElement[bool], ...]:
        """The row, if this worker still holds it: a worker whose claim lapsed and was taken over
        must not overwrite the new holder's state."""
        return (col(Outbox.id) == item.id, col(Outbox.claimed_by) == self.instance_id)

    async def _update(self, item: OutboxItem, **values: object) -> None:
        async with self.db.transaction() as session:
            await session.exec(update(Outbox).where(*self._mine(item)).values(**values))  # type: ignore[call-overload]

    async def depth(self) -> list[tuple[int, str, int]]:
        """(lane, state, count) for messages not yet delivered: pending, sending and dead."""
        async with self.db.transaction() as session:
            stmt = (
                select(Outbox.lane, Outbox.state, func.count())
                .where(col(Outbox.state).in_(("pending", "sending", "dead")))
                .group_by(col(Outbox.lane), col(Outbox.state))
            )
            return [(int(lane), str(state), int(n)) for lane, state, n in (await session.exec(stmt)).all()]

    async def listing(self, states: Sequence[str] = ("dead",), limit: int = 100) -> list[Outbox]:
        async with self.db.transaction() as session:
            stmt = select(Outbox).where(col(Outbox.state).in_(states)).order_by(col(Outbox.id).desc()).limit(limit)
            return list((await session.exec(stmt)).all())
