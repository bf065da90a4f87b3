"""The escalation sweep's statements, in plain SQL on a :class:`~hubao.storage.tx.Tx`, a batch at a time.

A batch of due risks costs a fixed handful of statements whatever its size: the claim, the
groups, their members, the admins, then three writes — the risks' ladder state, the
``escalated`` events and the outbox rows. On SQLite a write is one prepared statement run for
every row (``executemany``, a loop in C); on PostgreSQL it is one statement over arrays
(``unnest``), a single round trip.

Rows are read with the command path's column lists (:mod:`hubao.storage.records`), so they have
the same shape as the rows commands read.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from hubao.bot.delivery import channel_of
from hubao.storage.records import _GROUP_COLUMNS, _MEMBER_COLUMNS, _RISK_COLUMNS, GroupRow, MemberRow, RiskRow
from hubao.storage.tx import Tx

# One message to queue, as :func:`hubao.storage.records.enqueue` takes it: (key, payload, lane).
QueuedRow = tuple[str, dict[str, Any], int]
# One audit event: (group_id, risk_id, actor_id, kind, data as JSON text).
EventRow = tuple[int, int, str, str, str]

_MEMBERS_KEY = "sweep.members"
_ADMINS_KEY = "sweep.admins"
_DUTY_KEY = "sweep.duty"
_ASKERS_KEY = "sweep.askers"


def _any_of(tx: Tx, column: str, values: Collection[int]) -> tuple[str, list[Any]]:
    """``column`` is one of ``values`` (a batch's ids: far fewer than SQLite's parameter limit)."""
    if tx.sqlite:
        return f"{column} IN ({', '.join('?' * len(values))})", list(values)
    return f"{column} = ANY(?::bigint[])", [list(values)]


async def claim_due_risks(tx: Tx, now: datetime, limit: int) -> list[RiskRow]:
    """Up to ``limit`` risks whose next step is due, oldest first, locked for this transaction.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so instances sweeping at once never take the same
    row (nor wait for one a command holds). SQLite: the transaction holds the write lock.
    """
    return [RiskRow.of(tx, row) for row in await tx.fetch(claim_sql(sqlite=tx.sqlite), tx.when(now), limit)]


def claim_sql(*, sqlite: bool) -> str:
    """The claim of :func:`claim_due_risks`; parameters: now, limit (benchmarks EXPLAIN it)."""
    lock = "" if sqlite else " FOR UPDATE SKIP LOCKED"
    return (
        f"SELECT {_RISK_COLUMNS} FROM risks WHERE next_step_at IS NOT NULL AND next_step_at <= ? "
        f"ORDER BY next_step_at, id LIMIT ?{lock}"
    )


async def groups_by_id(tx: Tx, ids: Collection[int]) -> dict[int, GroupRow]:
    if not ids:
        return {}
    where, params = _any_of(tx, "id", ids)
    rows = await tx.fetch(f"SELECT {_GROUP_COLUMNS} FROM groups WHERE {where}", *params)
    return {group.id: group for group in (GroupRow.of(tx, row) for row in rows)}


async def load_members(tx: Tx, group_ids: Collection[int]) -> None:
    """Read the members of these groups in one query, for :func:`members` in this transaction."""
    known: dict[int, list[MemberRow]] = tx.info.setdefault(_MEMBERS_KEY, {})
    missing = [g for g in group_ids if g not in known]
    if not missing:
        return
    for group_id in missing:
        known[group_id] = []
    where, params = _any_of(tx, "group_id", missing)
    for row in await tx.fetch(f"SELECT {_MEMBER_COLUMNS} FROM members WHERE {where} ORDER BY id", *params):
        member = MemberRow.of(tx, row)
        known[member.group_id].append(member)


async def members(tx: Tx, group_id: int) -> list[MemberRow]:
    """The group's members, active or not, in the order they joined."""
    await load_members(tx, (group_id,))
    return list(tx.info[_MEMBERS_KEY][group_id])


async def admin_ids(tx: Tx) -> list[str]:
    """Admins added from chat, by user id; read once per transaction."""
    admins: list[str] | None = tx.info.get(_ADMINS_KEY)
    if admins is None:
        rows = await tx.fetch("SELECT user_id FROM bot_admins ORDER BY user_id")
        admins = tx.info[_ADMINS_KEY] = [row[0] for row in rows]
    return list(admins)


async def on_duty(tx: Tx, group_id: int) -> str | None:
    """Who is on duty in the group (``duty_rosters``), if it keeps a rotation; once per transaction."""
    known: dict[int, str | None] = tx.info.setdefault(_DUTY_KEY, {})
    if group_id not in known:
        row = await tx.fetchrow("SELECT members, position FROM duty_rosters WHERE group_id = ?", group_id)
        people = list(tx.json_value(row[0]) or []) if row is not None else []
        known[group_id] = str(people[int(row[1]) % len(people)]) if row is not None and people else None
    return known[group_id]


async def asker_of(tx: Tx, risk_id: int) -> tuple[GroupRow, str] | None:
    """For a cross-group request: the group that asked and who asked; None for other risks.

    The open requests are read once per transaction (one query per sweep batch, whatever its size)."""
    known: dict[int, tuple[GroupRow, str]] | None = tx.info.get(_ASKERS_KEY)
    if known is None:
        columns = ", ".join(f"g.{c.strip()}" for c in _GROUP_COLUMNS.split(","))
        rows = await tx.fetch(
            f"SELECT c.risk_id, c.requested_by, {columns} FROM cross_requests c "
            "JOIN groups g ON g.id = c.from_group_id JOIN risks r ON r.id = c.risk_id WHERE r.status <> 'resolved'"
        )
        known = tx.info[_ASKERS_KEY] = {int(row[0]): (GroupRow.of(tx, row[2:]), str(row[1])) for row in rows}
    return known.get(risk_id)


# -- writes --------------------------------------------------------------------------------------


async def set_ladders(tx: Tx, risks: Sequence[RiskRow]) -> None:
    """Write each risk's ladder state: pings counted, snooze, when to look again."""
    if not risks:
        return
    when = tx.when
    if tx.sqlite:
        await tx.execute_many(
            "UPDATE risks SET respond_pings = ?, resolve_pings = ?, snoozed_until = ?, next_step_at = ? WHERE id = ?",
            [(r.respond_pings, r.resolve_pings, when(r.snoozed_until), when(r.next_step_at), r.id) for r in risks],
        )
        return
    await tx.execute(
        "UPDATE risks SET respond_pings = v.respond_pings, resolve_pings = v.resolve_pings, "
        "snoozed_until = v.snoozed_until, next_step_at = v.next_step_at "
        "FROM unnest(?::bigint[], ?::integer[], ?::integer[], ?::timestamptz[], ?::timestamptz[]) "
        "AS v(id, respond_pings, resolve_pings, snoozed_until, next_step_at) WHERE risks.id = v.id",
        [r.id for r in risks], [r.respond_pings for r in risks], [r.resolve_pings for r in risks],
        [r.snoozed_until for r in risks], [r.next_step_at for r in risks],
    )  # fmt: skip


async def add_events(tx: Tx, events: Sequence[EventRow], at: datetime) -> None:
    """Append these events to the audit trail, all at ``at``."""
    if not events:
        return
    if tx.sqlite:
        moment = tx.when(at)
        await tx.execute_many(
            "INSERT INTO risk_events (group_id, risk_id, at, actor_id, kind, data) VALUES (?, ?, ?, ?, ?, ?)",
            [(group_id, risk_id, moment, actor, kind, data) for group_id, risk_id, actor, kind, data in events],
        )
        return
    group_ids, risk_ids, actors, kinds, datas = (list(column) for column in zip(*events, strict=True))
    await tx.execute(
        "INSERT INTO risk_events (group_id, risk_id, at, actor_id, kind, data) "
        "SELECT v.group_id, v.risk_id, ?::timestamptz, v.actor_id, v.kind, v.data::json "
        "FROM unnest(?::bigint[], ?::bigint[], ?::text[], ?::text[], ?::text[]) "
        "AS v(group_id, risk_id, actor_id, kind, data)",
        at, group_ids, risk_ids, actors, kinds, datas,
    )  # fmt: skip


async def enqueue(tx: Tx, items: Sequence[QueuedRow], now: datetime) -> None:
    """Queue messages due now, as :func:`hubao.storage.records.enqueue` does; a key already queued is skipped."""
    if not items:
        return
    rows = [
        (key, payload["platform"], payload["chat_id"], channel_of(payload), lane, tx.json_text(payload))
        for key, payload, lane in items
    ]
    if tx.sqlite:
        moment = tx.when(now)
        await tx.execute_many(
            "INSERT INTO outbox (key, platform, chat_id, channel, lane, payload, state, attempts, next_attempt_at, "
            "created_at, last_error) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, '') ON CONFLICT (key) DO NOTHING",
            [(*row, moment, moment) for row in rows],
        )
        return
    keys, platforms, chats, channels, lanes, payloads = (list(column) for column in zip(*rows, strict=True))
    await tx.execute(
        "INSERT INTO outbox (key, platform, chat_id, channel, lane, payload, state, attempts, next_attempt_at, "
        "created_at, last_error) SELECT v.key, v.platform, v.chat_id, v.channel, v.lane, v.payload::json, 'pending', "
        "0, ?::timestamptz, ?::timestamptz, '' "
        "FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::integer[], ?::text[]) "
        "AS v(key, platform, chat_id, channel, lane, payload) ON CONFLICT (key) DO NOTHING",
        now, now, keys, platforms, chats, channels, lanes, payloads,
    )  # fmt: skip
