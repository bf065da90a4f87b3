"""The command path's statements, in plain SQL on a :class:`~hubao.storage.tx.Tx`.

Rows come back as small dataclasses with the same fields as the ORM models, so the shared
helpers (cards, summaries, the ladder) take either. Code that changes groups or members beyond
what is here loads the ORM object through ``tx.session``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hubao.bot.delivery import channel_of
from hubao.storage.models import Group, Risk
from hubao.storage.tx import Row, Tx

OPEN_STATES = ("open", "acknowledged")

_GROUP_COLUMNS = (
    "id, platform, chat_id, name, leader_id, locale, timezone, calendar, work_hours, escalate_to, digest_at, "
    "policy, next_number, created_at"
)
_MEMBER_COLUMNS = "id, group_id, user_id, name, partner_id, active, joined_at"
_RISK_COLUMNS = (
    "id, group_id, number, content, level, tags, reporter_id, owner_id, status, urgent, source, created_at, "
    "respond_by, resolve_by, acked_at, resolved_at, snoozed_until, resolution, policy, next_step_at, "
    "respond_pings, resolve_pings, clock_epoch, likelihood, impact"
)
_RISK_NAMES = _RISK_COLUMNS.split(", ")
_RISK_TIMES = frozenset({"created_at", "respond_by", "resolve_by", "acked_at", "resolved_at", "snoozed_until",
                         "next_step_at"})  # fmt: skip
_RISK_JSON = frozenset({"tags", "policy"})


@dataclass(slots=True)
class GroupRow:
    id: int
    platform: str
    chat_id: str
    name: str
    leader_id: str | None
    locale: str | None
    timezone: str | None
    calendar: str | None
    work_hours: str | None
    escalate_to: str | None
    digest_at: str | None
    policy: dict[str, Any]
    next_number: int
    created_at: datetime

    @classmethod
    def of(cls, tx: Tx, row: Row) -> GroupRow:
        values = list(row)
        values[11] = tx.json_value(values[11])
        values[13] = tx.moment(values[13])
        return cls(*values)


@dataclass(slots=True)
class MemberRow:
    id: int
    group_id: int
    user_id: str
    name: str
    partner_id: str | None
    active: bool
    joined_at: datetime

    @classmethod
    def of(cls, tx: Tx, row: Row) -> MemberRow:
        id_, group_id, user_id, name, partner_id, active, joined_at = row
        return cls(id_, group_id, user_id, name, partner_id, bool(active), tx.moment(joined_at))  # type: ignore[arg-type]


@dataclass(slots=True)
class RiskRow:
    id: int
    group_id: int
    number: int
    content: str
    level: str
    tags: list[str]
    reporter_id: str
    owner_id: str
    status: str
    urgent: bool
    source: str
    created_at: datetime
    respond_by: datetime
    resolve_by: datetime
    acked_at: datetime | None
    resolved_at: datetime | None
    snoozed_until: datetime | None
    resolution: str
    policy: dict[str, Any] = field(default_factory=dict)
    next_step_at: datetime | None = None
    respond_pings: int = 0
    resolve_pings: int = 0
    clock_epoch: int = 0
    likelihood: int | None = None
    impact: int | None = None

    @classmethod
    def of(cls, tx: Tx, row: Row) -> RiskRow:
        values = list(row)
        for index in _TIME_AT:
            values[index] = tx.moment(values[index])
        for index in _JSON_AT:
            values[index] = tx.json_value(values[index])
        values[_URGENT_AT] = bool(values[_URGENT_AT])  # SQLite keeps 0/1
        return cls(*values)


_TIME_AT = tuple(i for i, name in enumerate(_RISK_NAMES) if name in _RISK_TIMES)
_JSON_AT = tuple(i for i, name in enumerate(_RISK_NAMES) if name in _RISK_JSON)
_URGENT_AT = _RISK_NAMES.index("urgent")


GroupRecord = Group | GroupRow  # what handlers read a group from: an ORM object or a row
RiskRecord = Risk | RiskRow


# -- deliveries, groups, members, admins --------------------------------------------------------


async def record_delivery(tx: Tx, key: str, now: datetime) -> bool:
    """Mark a delivery processed in this transaction; False when it was processed before.

    A row stored earlier as "pending" (an inbox row) is taken over: only one transaction can
    move it to "done", so a delivery finished by the sweep and by its receiver at once has one
    effect (PostgreSQL makes the second wait on the row lock, then see "done").
    """
    sql = (
        "INSERT INTO seen_deliveries (key, seen_at, state) VALUES (?, ?, 'done') ON CONFLICT (key) "
        "DO UPDATE SET state = 'done', event = NULL WHERE seen_deliveries.state = 'pending'"
    )
    return await tx.execute(sql, key, tx.when(now)) > 0


async def hold_delivery(tx: Tx, key: str, now: datetime, event: str) -> bool:
    """Store a delivery unprocessed, with its event; False when it was stored before."""
    sql = (
        "INSERT INTO seen_deliveries (key, seen_at, state, event) VALUES (?, ?, 'pending', ?) "
        "ON CONFLICT (key) DO NOTHING"
    )
    return await tx.execute(sql, key, tx.when(now), event) > 0


async def held_deliveries(tx: Tx, stored_before: datetime, limit: int) -> list[tuple[str, str]]:
    """(key, event) of deliveries stored but not processed, oldest first."""
    sql = "SELECT key, event FROM seen_deliveries WHERE state = 'pending' AND seen_at <= ? ORDER BY seen_at LIMIT ?"
    return [(row[0], row[1] or "") for row in await tx.fetch(sql, tx.when(stored_before), limit)]


async def group_by_chat(tx: Tx, platform: str, chat_id: str) -> GroupRow | None:
    sql = f"SELECT {_GROUP_COLUMNS} FROM groups WHERE platform = ? AND chat_id = ?"
    row = await tx.fetchrow(sql, platform, chat_id)
    return GroupRow.of(tx, row) if row is not None else None


async def roster(tx: Tx, group_id: int) -> dict[str, MemberRow]:
    """The group's members by user id; one query per group and transaction serves every lookup."""
    rosters: dict[int, dict[str, MemberRow]] = tx.info.setdefault("rosters", {})
    members = rosters.get(group_id)
    if members is None:
        rows = await tx.fetch(f"SELECT {_MEMBER_COLUMNS} FROM members WHERE group_id = ? ORDER BY id", group_id)
        members = {m.user_id: m for m in (MemberRow.of(tx, r) for r in rows)}
        rosters[group_id] = members
    return members


async def enrol(tx: Tx, group_id: int, user_id: str, name: str, now: datetime) -> MemberRow:
    """The member row for ``user_id``, added if new; a changed display name is kept."""
    members = await roster(tx, group_id)
    member = members.get(user_id)
    if member is None:
        row = await tx.fetchrow(
            f"INSERT INTO members (group_id, user_id, name, active, joined_at) VALUES (?, ?, ?, ?, ?) "
            f"ON CONFLICT (group_id, user_id) DO NOTHING RETURNING {_MEMBER_COLUMNS}",
            group_id, user_id, name, True, tx.when(now),
        )  # fmt: skip
        if row is None:  # another instance enrolled them a moment ago (PostgreSQL)
            row = await tx.fetchrow(f"SELECT {_MEMBER_COLUMNS} FROM members WHERE group_id = ? AND user_id = ?",
                                    group_id, user_id)  # fmt: skip
        assert row is not None
        member = members[user_id] = MemberRow.of(tx, row)
        _forget_orm_roster(tx, group_id)
    elif name and member.name != name:
        await rename(tx, member, name)
    return member


async def rename(tx: Tx, member: MemberRow, name: str) -> None:
    await tx.execute("UPDATE members SET name = ? WHERE id = ?", name, member.id)
    member.name = name
    _forget_orm_roster(tx, member.group_id)


def _forget_orm_roster(tx: Tx, group_id: int) -> None:
    # An ORM session in this transaction may hold the roster from before (storage/repo.py).
    session = tx.session_if_open
    if session is not None:
        session.sync_session.info.get("hubao.rosters", {}).pop(group_id, None)


async def is_admin(tx: Tx, user_id: str) -> bool:
    admins: set[str] | None = tx.info.get("admins")
    if admins is None:  # one query per transaction; the table holds a handful of rows
        admins = tx.info["admins"] = {r[0] for r in await tx.fetch("SELECT user_id FROM bot_admins")}
    return user_id in admins


# -- risks -------------------------------------------------------------------------------------


async def risk_by_number(tx: Tx, group_id: int, number: int, *, for_update: bool = False) -> RiskRow | None:
    """The risk; ``for_update`` locks its row for the rest of the transaction.

    A locked row cannot change under this transaction, so it is read once: the role check and
    the command itself share it (and changes made through :func:`update_risk` are on it).
    """
    locked: dict[tuple[int, int], RiskRow] = tx.info.setdefault("locked_risks", {})
    if for_update and (group_id, number) in locked:
        return locked[group_id, number]
    lock = " FOR UPDATE" if for_update and not tx.sqlite else ""  # SQLite: BEGIN IMMEDIATE holds the file
    row = await tx.fetchrow(f"SELECT {_RISK_COLUMNS} FROM risks WHERE group_id = ? AND number = ?{lock}",
                            group_id, number)  # fmt: skip
    if row is None:
        return None
    risk = RiskRow.of(tx, row)
    if for_update:
        locked[group_id, number] = risk
    return risk


async def take_next_number(tx: Tx, group_id: int) -> int:
    """Atomically allocate the group's next risk number."""
    row = await tx.fetchrow("UPDATE groups SET next_number = next_number + 1 WHERE id = ? RETURNING next_number",
                            group_id)  # fmt: skip
    assert row is not None, f"no group {group_id}"
    return int(row[0]) - 1


_INSERTED = _RISK_NAMES[1:]
_INSERT_RISK = f"INSERT INTO risks ({', '.join(_INSERTED)}) VALUES ({', '.join('?' * len(_INSERTED))}) RETURNING id"


async def insert_risk(tx: Tx, risk: RiskRow) -> RiskRow:
    """Store a new risk (its ``id`` is ignored) and return it with the id it got."""
    row = await tx.fetchrow(_INSERT_RISK, *(_column_value(tx, name, getattr(risk, name)) for name in _INSERTED))
    assert row is not None
    risk.id = int(row[0])
    return risk


async def update_risk(tx: Tx, risk: RiskRow, *columns: str) -> None:
    """Write the named fields of ``risk`` to its row (names come from the code, never from input)."""
    assignments = ", ".join(f"{name} = ?" for name in columns)
    values = [_column_value(tx, name, getattr(risk, name)) for name in columns]
    await tx.execute(f"UPDATE risks SET {assignments} WHERE id = ?", *values, risk.id)


def _column_value(tx: Tx, name: str, value: Any) -> Any:
    if name in _RISK_TIMES:
        return tx.when(value)
    if name in _RISK_JSON:
        return tx.json_text(value)
    return value


@dataclass(slots=True)
class BoardRow:
    """What a line of the board shows about a risk."""

    number: int
    level: str
    content: str
    owner_id: str
    status: str
    created_at: datetime
    respond_by: datetime
    resolve_by: datetime
    acked_at: datetime | None
    likelihood: int | None = None
    impact: int | None = None


_BOARD_COLUMNS = (
    "number, level, content, owner_id, status, created_at, respond_by, resolve_by, acked_at, likelihood, impact"
)


async def board(
    tx: Tx,
    group_id: int,
    *,
    statuses: Sequence[str] = OPEN_STATES,
    owner_id: str | None = None,
    overdue_at: datetime | None = None,
    limit: int = 200,
) -> list[BoardRow]:
    """The group's risks matching the filters, oldest first, at most ``limit``."""
    where, params = _matching(tx, group_id, statuses, owner_id, overdue_at)
    sql = f"SELECT {_BOARD_COLUMNS} FROM risks WHERE {where} ORDER BY created_at, number LIMIT ?"
    moment = tx.moment
    return [
        BoardRow(n, level, content, owner, status, moment(c), moment(re), moment(rs), moment(a), li, im)  # type: ignore[arg-type]
        for n, level, content, owner, status, c, re, rs, a, li, im in await tx.fetch(sql, *params, limit)
    ]


async def count_risks(
    tx: Tx,
    group_id: int,
    statuses: Sequence[str] = OPEN_STATES,
    *,
    owner_id: str | None = None,
    overdue_at: datetime | None = None,
) -> int:
    """How many risks :func:`board` would find without a limit."""
    where, params = _matching(tx, group_id, statuses, owner_id, overdue_at)
    row = await tx.fetchrow(f"SELECT count(*) FROM risks WHERE {where}", *params)
    return int(row[0]) if row is not None else 0


def _matching(
    tx: Tx, group_id: int, statuses: Sequence[str], owner_id: str | None, overdue_at: datetime | None
) -> tuple[str, list[Any]]:
    where = f"group_id = ? AND status IN ({', '.join('?' * len(statuses))})"
    params: list[Any] = [group_id, *statuses]
    if owner_id is not None:
        where += " AND owner_id = ?"
        params.append(owner_id)
    if overdue_at is not None:
        where += " AND resolve_by < ?"
        params.append(tx.when(overdue_at))
    return where, params


async def add_event(
    tx: Tx,
    *,
    group_id: int,
    risk_id: int | None,
    actor_id: str,
    kind: str,
    at: datetime,
    data: dict[str, Any] | None = None,
    message_id: str | None = None,
) -> None:
    """Append to the audit trail."""
    await tx.execute(
        "INSERT INTO risk_events (group_id, risk_id, at, actor_id, kind, data, message_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        group_id, risk_id, tx.when(at), actor_id, kind, tx.json_text(data or {}), message_id,
    )  # fmt: skip


# -- outbox ------------------------------------------------------------------------------------

_ENQUEUE = (
    "INSERT INTO outbox (key, platform, chat_id, channel, lane, payload, state, attempts, next_attempt_at, "
    "created_at, last_error) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, '') ON CONFLICT (key) DO NOTHING"
)


async def enqueue(
    tx: Tx, items: Iterable[tuple[str, dict[str, Any], int]], *, now: datetime, not_before: datetime | None = None
) -> int:
    """Queue messages as (idempotency key, payload, lane); a key already queued is skipped."""
    due, created = tx.when(not_before or now), tx.when(now)
    queued = 0
    for key, payload, lane in items:  # row by row: the count of rows really queued is wanted
        queued += await tx.execute(
            _ENQUEUE, key, payload["platform"], payload["chat_id"], channel_of(payload), lane, tx.json_text(payload),
            due, created,
            sees_orm=False,  # new rows under new keys: nothing pending in a session changes the outcome
        )  # fmt: skip
    return queued


async def has_request_link(tx: Tx, risk_id: int) -> bool:
    """Whether the risk is another group's request (its changes are posted back there)."""
    return await tx.fetchrow("SELECT 1 FROM cross_requests WHERE risk_id = ?", risk_id) is not None


async def has_outgoing_requests(tx: Tx, group_id: int) -> bool:
    """Whether the group has ever asked another group (its board then lists those requests)."""
    return await tx.fetchrow("SELECT 1 FROM cross_requests WHERE from_group_id = ? LIMIT 1", group_id) is not None
