"""The outbox table as the delivery worker sees it (implements bot.delivery.OutboxStore).

The worker's statements run on the driver (see hubao.storage.tx): a backlog is sent at the
platform's rate, a few small transactions per round of sends, and each must cost little. Every query that
reads a channel walks the ``ix_outbox_channel`` index from the channel's head, so its cost does
not grow with the backlog.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import col, select

from hubao.bot.adapter import SendLimit
from hubao.bot.delivery import MERGE_MAX, ChannelDue, ChannelKey, OutboxItem, Plan, window_ready, window_slots
from hubao.bot.events import OutboundMessage
from hubao.storage import records
from hubao.storage.db import Database
from hubao.storage.models import Outbox
from hubao.storage.tx import Row, Tx

_CHANNEL = "platform = ? AND chat_id = ? AND channel = ?"
# The channel's first due message, walking its queue from the head (it is usually the head).
_FIRST_DUE = (
    f"SELECT lane, id FROM outbox WHERE state = 'pending' AND {_CHANNEL} AND next_attempt_at <= ? "
    "ORDER BY lane, id LIMIT 1"
)
# Nothing due yet (every message waits for a retry): when the first will be.
_EARLIEST = f"SELECT MIN(lane), MIN(next_attempt_at), MIN(id) FROM outbox WHERE state = 'pending' AND {_CHANNEL}"
_PACE = f"SELECT ready_at, recent FROM outbox_pace WHERE {_CHANNEL}"
_SET_PACE = (
    "INSERT INTO outbox_pace (platform, chat_id, channel, ready_at, recent) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (platform, chat_id, channel) DO UPDATE SET ready_at = excluded.ready_at, recent = excluded.recent"
)
_HOLD = (
    "INSERT INTO outbox_pace (platform, chat_id, channel, ready_at, recent) VALUES (?, ?, ?, ?, '[]') "
    "ON CONFLICT (platform, chat_id, channel) DO UPDATE SET ready_at = CASE "
    "WHEN outbox_pace.ready_at > excluded.ready_at THEN outbox_pace.ready_at ELSE excluded.ready_at END"
)
_ALL_PENDING = "state = 'pending'"
# Rows added since the last look: read by id (``state || ''`` keeps the planner off the state
# index, which would walk every pending row of a backlog).
_NEW_PENDING = "id > ? AND state || '' = 'pending'"
_CHANNELS = (
    "SELECT g.platform, g.chat_id, g.channel, g.lane, g.due, p.ready_at, g.first_id FROM ("
    "SELECT platform, chat_id, channel, MIN(lane) AS lane, MIN(next_attempt_at) AS due, MIN(id) AS first_id "
    "FROM outbox WHERE {where} GROUP BY platform, chat_id, channel) g "
    "LEFT JOIN outbox_pace p ON p.platform = g.platform AND p.chat_id = g.chat_id AND p.channel = g.channel"
)


def _later(a: datetime, b: datetime | None) -> datetime:
    return a if b is None or a >= b else b


async def next_due(tx: Tx) -> datetime | None:
    """When a worker next has something to do: a channel's next send (its earliest pending
    message, or its pace if later), or a claim lapsing."""
    times = [
        _later(Tx.moment(due) or datetime.max.replace(tzinfo=UTC), Tx.moment(ready))
        for *_key, _lane, due, ready, _first in await tx.fetch(_CHANNELS.format(where=_ALL_PENDING))
    ]
    lapse = await tx.fetchrow("SELECT MIN(claimed_until) FROM outbox WHERE state = 'sending'")
    if lapse and lapse[0] is not None:
        times.append(Tx.moment(lapse[0]))  # type: ignore[arg-type]
    return min(times) if times else None


class SqlOutbox:
    def __init__(self, db: Database, instance_id: str = "local") -> None:
        self.db = db
        self.instance_id = instance_id
        # SQLite has one writer at a time, so ids commit in order; PostgreSQL allots ids before
        # commits that may finish out of order, so the worker looks back a few seconds there.
        self.commits_in_id_order = db.is_sqlite

    # --- what is waiting --------------------------------------------------------------------

    async def channels(self, now: datetime, since_id: int = 0) -> tuple[list[ChannelDue], int]:
        async with self.db.command() as tx:
            highest = (await tx.fetchrow("SELECT MAX(id) FROM outbox"))[0] or 0  # type: ignore[index]
            if since_id:
                rows = await tx.fetch(_CHANNELS.format(where=_NEW_PENDING), since_id)
            else:
                rows = await tx.fetch(_CHANNELS.format(where=_ALL_PENDING))
        found = [
            ChannelDue(ChannelKey(p, c, ch), int(lane), _later(Tx.moment(due) or now, Tx.moment(ready)), int(first))
            for p, c, ch, lane, due, ready, first in rows
        ]
        return found, int(highest)

    async def take_over(self, now: datetime) -> list[ChannelDue]:
        lapsed = "state = 'sending' AND claimed_until <= ?"
        async with self.db.command() as tx:
            rows = await tx.fetch(
                f"SELECT platform, chat_id, channel, MIN(lane), MIN(id) FROM outbox WHERE {lapsed} "
                "GROUP BY platform, chat_id, channel",
                tx.when(now),
            )
            if rows:  # their worker died or stalled: back to the queue, for any worker
                await tx.execute(
                    f"UPDATE outbox SET state = 'pending', claimed_by = NULL, claimed_until = NULL WHERE {lapsed}",
                    tx.when(now),
                )
        return [ChannelDue(ChannelKey(p, c, ch), int(lane), now, int(first)) for p, c, ch, lane, first in rows]

    async def due(self, key: ChannelKey, now: datetime) -> ChannelDue | None:
        args = (key.platform, key.chat_id, key.channel)
        async with self.db.command() as tx:
            first = await tx.fetchrow(_FIRST_DUE, *args, tx.when(now))
            if first is not None:
                lane, earliest, first_id = int(first[0]), now, int(first[1])
            else:
                row = await tx.fetchrow(_EARLIEST, *args)
                if row is None or row[1] is None:
                    return None
                lane, earliest, first_id = int(row[0]), Tx.moment(row[1]) or now, int(row[2])
            pace = await tx.fetchrow(_PACE, *args)
        return ChannelDue(key, lane, _later(earliest, Tx.moment(pace[0]) if pace else None), first_id)

    # --- claiming ---------------------------------------------------------------------------

    async def claim(
        self,
        key: ChannelKey,
        now: datetime,
        *,
        until: datetime,
        rate: SendLimit | None,
        batch: int,
        plan: Plan,
    ) -> Sequence[OutboxItem]:
        args = (key.platform, key.chat_id, key.channel)
        async with self.db.command() as tx:
            recent: list[datetime] = []
            sends = batch
            if rate is not None:
                if tx.sqlite:  # one writer at a time: the transaction itself is the lock
                    row = await tx.fetchrow(_PACE, *args)
                else:  # another instance claiming this channel right now holds its pace row
                    await tx.execute(
                        "INSERT INTO outbox_pace (platform, chat_id, channel, ready_at, recent) "
                        "VALUES (?, ?, ?, ?, '[]') ON CONFLICT (platform, chat_id, channel) DO NOTHING",
                        *args, tx.when(now),
                    )  # fmt: skip
                    row = await tx.fetchrow(_PACE + " FOR UPDATE SKIP LOCKED", *args)
                    if row is None:
                        return []
                if row is not None:
                    ready = Tx.moment(row[0])
                    if ready is not None and ready > now:
                        return []
                    recent = [datetime.fromisoformat(t) for t in Tx.json_value(row[1] or "[]")]
                recent, sends = window_slots(recent, now, rate)
                if not sends:
                    return []
            lock = "" if tx.sqlite else " FOR UPDATE SKIP LOCKED"
            rows = await tx.fetch(
                "SELECT id, key, lane, attempts, payload FROM outbox "
                f"WHERE state = 'pending' AND {_CHANNEL} AND next_attempt_at <= ? "
                f"ORDER BY lane, id LIMIT ?{lock}",
                *args, tx.when(now), sends * MERGE_MAX if rate is not None else batch,
            )  # fmt: skip
            candidates = [self._item(row, until, key.channel) for row in rows]
            count, used = plan(candidates, sends) if candidates else (0, 0)
            taken = candidates[:count]
            if not taken:
                return []
            marks = ", ".join("?" * len(taken))
            await tx.execute(
                f"UPDATE outbox SET state = 'sending', claimed_by = ?, claimed_until = ? WHERE id IN ({marks})",
                self.instance_id, tx.when(until), *(item.id for item in taken),
            )  # fmt: skip
            if rate is not None:
                recent += [now] * used
                stamps = json.dumps([t.isoformat() for t in recent])
                await tx.execute(_SET_PACE, *args, tx.when(window_ready(recent, now, rate)), stamps)
            return taken

    @staticmethod
    def _item(row: Row, until: datetime, channel: str) -> OutboxItem:
        item_id, key, lane, attempts, payload = row
        message = OutboundMessage.from_json(Tx.json_value(payload))
        return OutboxItem(int(item_id), key, int(lane), int(attempts), message, claimed_until=until, channel=channel)

    async def renew(self, until: datetime) -> int:
        async with self.db.command() as tx:
            return await tx.execute(
                "UPDATE outbox SET claimed_until = ? WHERE state = 'sending' AND claimed_by = ?",
                tx.when(until), self.instance_id,
            )  # fmt: skip

    async def hold(self, key: ChannelKey, until: datetime) -> None:
        async with self.db.command() as tx:
            await tx.execute(_HOLD, key.platform, key.chat_id, key.channel, tx.when(until))

    # --- settling ---------------------------------------------------------------------------
    # Each write names this worker as the holder: a worker whose claim lapsed and was taken
    # over must not overwrite the new holder's state.

    async def sent(self, items: Sequence[OutboxItem], now: datetime) -> None:
        marks = ", ".join("?" * len(items))
        async with self.db.command() as tx:
            await tx.execute(
                "UPDATE outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1, claimed_until = NULL "
                f"WHERE claimed_by = ? AND state = 'sending' AND id IN ({marks})",
                tx.when(now), self.instance_id, *(item.id for item in items),
            )  # fmt: skip

    async def retry(self, item: OutboxItem, at: datetime, error: str, *, count_attempt: bool = True) -> None:
        async with self.db.command() as tx:
            await tx.execute(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?, last_error = ?, attempts = ?, "
                "claimed_until = NULL WHERE id = ? AND claimed_by = ? AND state = 'sending'",
                tx.when(at), error[:500], item.attempts + (1 if count_attempt else 0), item.id, self.instance_id,
            )  # fmt: skip

    async def dead(self, item: OutboxItem, now: datetime, error: str) -> None:
        async with self.db.command() as tx:
            await tx.execute(
                "UPDATE outbox SET state = 'dead', last_error = ?, attempts = ?, claimed_until = NULL "
                "WHERE id = ? AND claimed_by = ? AND state = 'sending'",
                error[:500], item.attempts + 1, item.id, self.instance_id,
            )  # fmt: skip

    async def split(self, item: OutboxItem, parts: Sequence[OutboundMessage], now: datetime) -> None:
        async with self.db.command() as tx:
            changed = await tx.execute(
                "UPDATE outbox SET state = 'split', claimed_until = NULL "
                "WHERE id = ? AND claimed_by = ? AND state = 'sending'",
                item.id, self.instance_id,
            )  # fmt: skip
            if changed:  # parts keep the lane; the creation order (ids) keeps them in sequence
                items = [(f"{item.key}#{i + 1}", p.to_json(), item.lane) for i, p in enumerate(parts)]
                await records.enqueue(tx, items, now=now)

    # --- for people -------------------------------------------------------------------------

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
