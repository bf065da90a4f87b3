"""Named leases in the database (implements bot.lease.Leases)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, update
from sqlmodel import col

from hubao.bot.clock import Clock
from hubao.storage import repo
from hubao.storage.db import Database
from hubao.storage.models import Lease


class SqlLeases:
    def __init__(self, db: Database, clock: Clock, holder: str) -> None:
        self.db = db
        self.clock = clock
        self.holder = holder

    async def try_acquire(self, name: str, ttl: timedelta) -> bool:
        now = self.clock.now()
        async with self.db.transaction() as session:
            insert = repo._insert(session, Lease).values(name=name, holder=self.holder, expires_at=now + ttl)
            created = await session.exec(insert.on_conflict_do_nothing())  # type: ignore[call-overload]
            if created.rowcount:
                return True
            # Renew our own lease, or take one whose holder stopped renewing it.
            taken = await session.exec(  # type: ignore[call-overload]
                update(Lease)
                .where(col(Lease.name) == name)
                .where((col(Lease.holder) == self.holder) | (col(Lease.expires_at) < now))
                .values(holder=self.holder, expires_at=now + ttl)
            )
            return bool(taken.rowcount)

    async def release(self, name: str) -> None:
        async with self.db.transaction() as session:
            await session.exec(  # type: ignore[call-overload]
                delete(Lease).where(col(Lease.name) == name, col(Lease.holder) == self.holder)
            )
