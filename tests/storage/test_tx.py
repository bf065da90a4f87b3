"""A command's transaction: plain SQL and the ORM in one transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from hubao.storage import records, repo
from hubao.storage.db import Database
from hubao.storage.models import Group, Member, Outbox, Risk, RiskEvent, SeenDelivery
from hubao.storage.records import RiskRow
from hubao.storage.tx import Tx

NOW = datetime(2026, 11, 23, 1, 0, 0, 123456, tzinfo=UTC)


async def _group(db: Database, chat_id: str = "oc_1") -> Group:
    async with db.transaction() as s:
        return await repo.create_group(s, platform="feishu", chat_id=chat_id, name="g", now=NOW, leader_id="u_lead")


async def _keys(db: Database) -> set[str]:
    async with db.transaction() as s:
        return set((await s.exec(select(SeenDelivery.key))).all())


def _risk_row(group_id: int, number: int) -> RiskRow:
    return RiskRow(
        id=0, group_id=group_id, number=number, content="库存低于阈值", level="high", tags=["仓储", "p1"],
        reporter_id="u_a", owner_id="u_b", status="open", urgent=False, source="chat", created_at=NOW,
        respond_by=NOW + timedelta(hours=1), resolve_by=NOW + timedelta(hours=24), acked_at=None,
        resolved_at=None, snoozed_until=None, resolution="", policy={"respond": 3600.0, "max_repeats": 3},
        next_step_at=NOW + timedelta(hours=1),
    )  # fmt: skip


async def test_plain_sql_and_the_orm_session_commit_together(db: Database) -> None:
    group = await _group(db)
    async with db.command() as tx:
        assert await records.record_delivery(tx, "feishu:evt_1", NOW)
        tx.session.add(Member(group_id=group.id or 0, user_id="u_new", name="新人", joined_at=NOW))
        await tx.session.flush()
        # Plain SQL and the ORM see each other's writes inside the one transaction.
        assert "u_new" in await records.roster(tx, group.id or 0)
    assert await _keys(db) == {"feishu:evt_1"}
    async with db.transaction() as s:
        assert await repo.get_member(s, group.id or 0, "u_new") is not None


async def test_a_failed_command_leaves_neither_its_sql_nor_its_orm_changes(db: Database) -> None:
    group = await _group(db)
    with pytest.raises(RuntimeError):
        async with db.command() as tx:
            assert await records.record_delivery(tx, "feishu:evt_2", NOW)
            tx.session.add(Member(group_id=group.id or 0, user_id="u_gone", name="", joined_at=NOW))
            await records.enqueue(tx, [("reply:x:0", {"platform": "feishu", "chat_id": "oc_1", "text": "hi"}, 1)],
                                  now=NOW)  # fmt: skip
            raise RuntimeError("handler failed")
    assert await _keys(db) == set()
    async with db.transaction() as s:
        assert await repo.get_member(s, group.id or 0, "u_gone") is None
        assert (await s.exec(select(Outbox))).all() == []
    # The next command runs normally (on SQLite, on a fresh connection).
    async with db.command() as tx:
        assert await records.record_delivery(tx, "feishu:evt_2", NOW)
    assert await _keys(db) == {"feishu:evt_2"}


async def test_plain_sql_sees_orm_changes_not_yet_flushed(db: Database) -> None:
    group = await _group(db)
    async with db.command() as tx:
        tx.session.add(Member(group_id=group.id or 0, user_id="u_pending", name="待定", joined_at=NOW))
        roster = await records.roster(tx, group.id or 0)
    assert roster["u_pending"].name == "待定"


async def test_a_command_without_orm_work_makes_no_session(db: Database) -> None:
    await _group(db)
    async with db.command() as tx:
        assert (await records.group_by_chat(tx, "feishu", "oc_1")) is not None
        assert tx.session_if_open is None


async def test_rows_written_with_plain_sql_read_back_through_the_orm_alike(db: Database) -> None:
    group = await _group(db)
    async with db.command() as tx:
        number = await records.take_next_number(tx, group.id or 0)
        written = await records.insert_risk(tx, _risk_row(group.id or 0, number))
        await records.add_event(tx, group_id=group.id or 0, risk_id=written.id, actor_id="u_a", kind="created",
                                at=NOW, data={"content": "库存低于阈值"}, message_id="m1")  # fmt: skip
    async with db.transaction() as s:
        risk = await repo.get_risk(s, group.id or 0, number)
        assert risk is not None
        events = await repo.risk_events(s, risk.id or 0)
    assert (risk.id, risk.content, risk.tags, risk.policy, risk.urgent) == (
        written.id, "库存低于阈值", ["仓储", "p1"], {"respond": 3600.0, "max_repeats": 3}, False,
    )  # fmt: skip
    assert risk.created_at == NOW and risk.respond_by == NOW + timedelta(hours=1)
    assert risk.created_at.tzinfo is not None and risk.acked_at is None
    timeline = [(e.kind, e.data, e.at, e.message_id) for e in events]
    assert timeline == [("created", {"content": "库存低于阈值"}, NOW, "m1")]


async def test_rows_written_by_the_orm_read_back_with_plain_sql_alike(db: Database) -> None:
    group = await _group(db)
    async with db.transaction() as s:
        s.add(Risk(group_id=group.id or 0, number=7, content="c", level="low", tags=["t"], reporter_id="u_a",
                   owner_id="u_b", urgent=True, created_at=NOW, respond_by=NOW, resolve_by=NOW + timedelta(days=1),
                   acked_at=NOW, policy={"repeat": 60.0}, next_step_at=None))  # fmt: skip
    async with db.command() as tx:
        row = await records.risk_by_number(tx, group.id or 0, 7)
        loaded = await records.group_by_chat(tx, "feishu", "oc_1")
    assert row is not None and loaded is not None
    assert (row.tags, row.policy, row.urgent, row.acked_at, row.next_step_at) == (["t"], {"repeat": 60.0}, True, NOW,
                                                                                  None)  # fmt: skip
    assert row.resolve_by == NOW + timedelta(days=1) and row.resolve_by.tzinfo is not None
    assert (loaded.id, loaded.leader_id, loaded.policy, loaded.created_at) == (group.id, "u_lead", {}, NOW)


async def test_an_update_writes_only_the_named_fields(db: Database) -> None:
    group = await _group(db)
    async with db.command() as tx:
        risk = await records.insert_risk(tx, _risk_row(group.id or 0, 1))
    async with db.command() as tx:
        risk.status, risk.acked_at, risk.content = "acknowledged", NOW, "not saved"
        await records.update_risk(tx, risk, "status", "acked_at")
    async with db.transaction() as s:
        stored = await repo.get_risk(s, group.id or 0, 1)
    assert stored is not None
    assert (stored.status, stored.acked_at, stored.content) == ("acknowledged", NOW, "库存低于阈值")


async def test_over_an_orm_transaction_plain_sql_rolls_back_with_it(db: Database) -> None:
    # On PostgreSQL the plain statements must run inside the session's transaction, not in
    # autocommit before SQLAlchemy's adapter has opened it.
    with pytest.raises(RuntimeError):
        async with db.transaction() as s:
            tx = await Tx.over(s)
            assert await records.record_delivery(tx, "feishu:evt_3", NOW)
            raise RuntimeError("rolled back")
    assert await _keys(db) == set()


async def test_board_filters_and_counts_match(db: Database) -> None:
    group = await _group(db)
    gid = group.id or 0
    async with db.command() as tx:
        for n in range(1, 6):
            row = _risk_row(gid, n)
            row.created_at = NOW + timedelta(minutes=n)
            row.owner_id = "u_b" if n % 2 else "u_c"
            row.resolve_by = NOW + timedelta(hours=n)
            row.status = "resolved" if n == 5 else "open"
            await records.insert_risk(tx, row)
    async with db.command() as tx:
        open_board = await records.board(tx, gid)
        mine = await records.board(tx, gid, owner_id="u_b")
        overdue = await records.board(tx, gid, overdue_at=NOW + timedelta(hours=2, minutes=30))
        page = await records.board(tx, gid, statuses=("open", "acknowledged", "resolved"), limit=2)
        total = await records.count_risks(tx, gid, ("open", "acknowledged", "resolved"))
    assert [r.number for r in open_board] == [1, 2, 3, 4]
    assert [r.number for r in mine] == [1, 3]
    assert [r.number for r in overdue] == [1, 2]
    assert [r.number for r in page] == [1, 2] and total == 5
    assert open_board[0].created_at == NOW + timedelta(minutes=1)


async def test_commands_in_flight_at_once_each_commit_whole(db: Database) -> None:
    group = await _group(db)

    async def command(i: int) -> None:
        async with db.command() as tx:
            await records.record_delivery(tx, f"k{i}", NOW)
            await records.enrol(tx, group.id or 0, f"u_{i}", f"用户{i}", NOW)
            await asyncio.sleep(0)  # let the others try to interleave

    await asyncio.gather(*(command(i) for i in range(20)))
    assert await _keys(db) == {f"k{i}" for i in range(20)}
    async with db.command() as tx:
        assert len(await records.roster(tx, group.id or 0)) == 20
    async with db.transaction() as s:
        assert (await s.exec(select(RiskEvent))).all() == []


async def test_a_member_enrolled_by_two_transactions_at_once_is_enrolled_once(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite runs one command at a time; two instances need PostgreSQL")
    group = await _group(db)
    gid = group.id or 0
    first, second = db.command(), db.command()
    tx1, tx2 = await first.__aenter__(), await second.__aenter__()
    assert await records.roster(tx1, gid) == {} and await records.roster(tx2, gid) == {}  # both saw nobody
    await records.enrol(tx1, gid, "u_new", "新同事", NOW)
    late = asyncio.create_task(records.enrol(tx2, gid, "u_new", "新同事", NOW))  # waits on tx1's row
    await asyncio.sleep(0)  # let it send its INSERT (conflicting or not, the outcome must be the same)
    await first.__aexit__(None, None, None)
    member = await late
    await second.__aexit__(None, None, None)
    assert member.user_id == "u_new"
    async with db.transaction() as s:
        assert len(await repo.members(s, gid)) == 1
