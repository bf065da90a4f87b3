"""Storage behaviour on SQLite and (with HUBAO_TEST_DATABASE_URL) PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from hubao.bot.clock import ManualClock
from hubao.storage import records, repo
from hubao.storage.db import Database
from hubao.storage.leases import SqlLeases
from hubao.storage.models import Outbox, RiskEvent, SeenDelivery
from hubao.storage.tx import Tx

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


async def test_times_come_back_as_aware_utc(db: Database) -> None:
    async with db.transaction() as s:
        group = await repo.create_group(s, platform="feishu", chat_id="oc_1", name="g", now=NOW)
    async with db.transaction() as s:
        again = await repo.get_group(s, "feishu", "oc_1")
    assert again is not None and again.id == group.id
    assert again.created_at == NOW and again.created_at.tzinfo is not None


async def test_risk_numbers_are_per_group_and_never_repeat_under_concurrency(db: Database) -> None:
    async with db.transaction() as s:
        a = await repo.create_group(s, platform="feishu", chat_id="oc_a", name="a", now=NOW)
        b = await repo.create_group(s, platform="feishu", chat_id="oc_b", name="b", now=NOW)

    async def take(group_id: int) -> int:
        async with db.transaction() as s:
            return await records.take_next_number(await Tx.over(s), group_id)

    numbers = await asyncio.gather(*(take(a.id or 0) for _ in range(20)))
    assert sorted(numbers) == list(range(1, 21))
    assert await take(b.id or 0) == 1


async def test_a_delivery_key_is_recorded_once(db: Database) -> None:
    async with db.transaction() as s:
        assert await records.record_delivery(await Tx.over(s), "feishu:evt_1", NOW)
    async with db.transaction() as s:
        assert not await records.record_delivery(await Tx.over(s), "feishu:evt_1", NOW)
    with pytest.raises(RuntimeError):
        async with db.transaction() as s:
            assert await records.record_delivery(await Tx.over(s), "feishu:evt_2", NOW)
            raise RuntimeError("processing failed")  # rolled back: the platform's retry must get through
    async with db.transaction() as s:
        assert await records.record_delivery(await Tx.over(s), "feishu:evt_2", NOW)
    async with db.transaction() as s:
        assert await repo.forget_deliveries_before(s, NOW + timedelta(hours=25)) == 2


async def test_outbox_keys_are_idempotent(db: Database) -> None:
    payload = {"platform": "feishu", "chat_id": "oc_1", "text": "hi"}
    async with db.transaction() as s:
        assert await repo.enqueue(s, [("esc:1:0:respond:1", payload, 0)], now=NOW) == 1
    async with db.transaction() as s:
        assert await repo.enqueue(s, [("esc:1:0:respond:1", payload, 0), ("reply:x:0", payload, 1)], now=NOW) == 1
    async with db.transaction() as s:
        rows = (await s.exec(select(Outbox))).all()
    assert sorted(r.key for r in rows) == ["esc:1:0:respond:1", "reply:x:0"]


async def test_event_log_keeps_order_and_data(db: Database) -> None:
    async with db.transaction() as s:
        group = await repo.create_group(s, platform="wecom", chat_id="c", name="g", now=NOW)
        for minute, kind in enumerate(["created", "noted", "acknowledged"]):
            await repo.add_event(
                s, group_id=group.id or 0, risk_id=None, actor_id="wecom:zhangsan", kind=kind,
                at=NOW + timedelta(minutes=minute), data={"n": minute}, message_id=f"m{minute}",
            )
    async with db.transaction() as s:
        events = (await s.exec(select(RiskEvent).order_by(RiskEvent.at))).all()  # type: ignore[arg-type]
    assert [(e.kind, e.data["n"], e.message_id) for e in events] == [
        ("created", 0, "m0"), ("noted", 1, "m1"), ("acknowledged", 2, "m2"),
    ]


async def test_a_lease_has_one_holder_until_it_expires(db: Database) -> None:
    clock = ManualClock(NOW)
    first, second = SqlLeases(db, clock, "a"), SqlLeases(db, clock, "b")
    ttl = timedelta(seconds=30)
    assert await first.try_acquire("wecom-ws", ttl)
    assert not await second.try_acquire("wecom-ws", ttl)
    clock.advance(seconds=20)
    assert await first.try_acquire("wecom-ws", ttl)  # renewal
    clock.advance(seconds=40)
    assert await second.try_acquire("wecom-ws", ttl)  # first stopped renewing
    assert not await first.try_acquire("wecom-ws", ttl)
    await second.release("wecom-ws")
    assert await first.try_acquire("wecom-ws", ttl)


async def test_delivery_records_outlive_platform_retries_then_are_pruned(make_app: Any) -> None:
    from hubao.adapters.console import ConsoleAdapter, Said

    console = ConsoleAdapter(lambda _block: None)
    app = await make_app(adapters={"console": console})
    await app.register_group("console", "demo", "g")
    event = console.event(Said("alice", "/risk 重复投递"), app.clock.now())
    assert not (await app.dispatch(event)).duplicate
    app.clock.advance(hours=47)
    await app.sweep()
    assert (await app.dispatch(event)).duplicate  # a retry a day later still has no effect
    app.clock.advance(hours=2)
    await app.sweep()
    async with app.db.transaction() as s:
        assert (await s.exec(select(SeenDelivery))).all() == []
