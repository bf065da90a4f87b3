"""The inbox: an event stored before the platform was answered is processed exactly once, even when
the instance that stored it died before processing it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from hubao.app import HELD_GRACE, App
from hubao.bot.clock import ManualClock
from hubao.bot.events import Button, InboundEvent, Mention, User

LEAD = User("console:lead", "Lead")


def _event(clock: ManualClock, text_: str, message_id: str) -> InboundEvent:
    return InboundEvent(
        platform="console", chat_id="demo", sender=LEAD, text=text_, message_id=message_id, time=clock.now()
    )


async def _risk_contents(app: App) -> list[str]:
    async with app.db.transaction() as session:
        rows = (await session.exec(text("SELECT content FROM risks ORDER BY id"))).all()
    return [row[0] for row in rows]


async def _states(app: App) -> dict[str, str]:
    async with app.db.transaction() as session:
        rows = (await session.exec(text("SELECT key, state FROM seen_deliveries"))).all()
    return {row[0]: row[1] for row in rows}


async def test_an_event_stored_by_an_instance_that_died_is_finished_by_the_sweep_once(
    make_app: Any, clock: ManualClock
) -> None:
    app = await make_app()
    await app.register_group("console", "demo", "互保一组", leader=LEAD)
    event = _event(clock, "/risk 库存低于安全线", "m-held")
    assert await app.dispatcher.hold(event)  # stored; its instance dies before processing it
    assert not await app.dispatcher.hold(event)  # the platform's retry finds it stored
    assert await _states(app) == {"console:m-held": "pending"}

    clock.advance(seconds=5)
    await app.sweep()  # its own instance may still be on it: left alone within the grace
    assert await _risk_contents(app) == []

    clock.advance(HELD_GRACE)
    await app.sweep()
    assert await _risk_contents(app) == ["库存低于安全线"]
    assert await _states(app) == {"console:m-held": "done"}
    clock.advance(HELD_GRACE)
    await app.sweep()
    assert await _risk_contents(app) == ["库存低于安全线"]
    assert (await app.dispatch(event)).duplicate  # a late retry has no effect


async def test_an_accepted_event_is_processed_right_after_it_is_stored(make_app: Any, clock: ManualClock) -> None:
    app = await make_app()
    await app.register_group("console", "demo", "互保一组", leader=LEAD)
    assert await app.accept(_event(clock, "/risk 证书月底过期", "m-accepted"))
    await app.idle()
    assert await _risk_contents(app) == ["证书月底过期"]
    assert not await app.accept(_event(clock, "/risk 证书月底过期", "m-accepted"))  # a retry
    await app.idle()
    assert await _risk_contents(app) == ["证书月底过期"]


async def test_start_up_finishes_what_a_crash_left_between_storing_and_processing(
    make_app: Any, clock: ManualClock, db_url: str
) -> None:
    first = await make_app()
    await first.register_group("console", "demo", "互保一组", leader=LEAD)
    for n in range(3):
        assert await first.dispatcher.hold(_event(clock, f"/risk 断供{n}", f"m-{n}"))
    restarted = await make_app(url=db_url)
    assert await restarted.finish_held(timedelta(0)) == 3  # what `hubao serve` runs at start-up
    assert sorted(await _risk_contents(restarted)) == ["断供0", "断供1", "断供2"]
    assert await restarted.finish_held(timedelta(0)) == 0


async def test_two_instances_taking_over_the_same_stored_events_process_each_once(
    make_app: Any, clock: ManualClock, db_url: str
) -> None:
    apps = [await make_app(), await make_app(url=db_url)]
    await apps[0].register_group("console", "demo", "互保一组", leader=LEAD)
    for n in range(20):
        assert await apps[0].dispatcher.hold(_event(clock, f"/risk 风险{n:02d}", f"m-{n}"))
    await asyncio.gather(*(app.finish_held(timedelta(0)) for app in apps))
    contents = await _risk_contents(apps[0])
    assert sorted(contents) == [f"风险{n:02d}" for n in range(20)]
    assert set((await _states(apps[0])).values()) == {"done"}


async def test_a_stored_event_keeps_everything_the_kernel_needs(clock: ManualClock) -> None:
    event = InboundEvent(
        platform="feishu", chat_id="oc_1", sender=User("feishu:ou_a", "Alice"), text="/ack #3 @_user_1",
        message_id="ev_1", time=clock.now(), mentions=(Mention(User("feishu:ou_b", "Bob"), "@_user_1"),),
        mentions_all=True, button=Button("ack", 3), reply_handle={"message_id": "om_1"},
    )  # fmt: skip
    assert InboundEvent.from_json(event.to_json()) == event
    suggestion = Button("risk", 0, label="登记", text="/risk 提醒 更新证书 @Bob due:周五")  # a one-tap /risk line
    clicked = InboundEvent(platform="feishu", chat_id="oc_1", sender=User("feishu:ou_a"), text=suggestion.command,
                           message_id="ev_2", time=clock.now(), button=suggestion)  # fmt: skip
    assert InboundEvent.from_json(clicked.to_json()) == clicked
