"""Each WeCom send channel has its own limit: a reply through its ``response_url`` (single use,
valid 1 h) never waits behind the group robot's 20 messages a minute."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from hubao.bot.events import Lane, OutboundMessage, User
from hubao.storage import repo
from hubao.storage.models import Outbox
from tests.adapters.wecom.standin import WeComStandIn
from tests.adapters.wecom.test_scenario import CHAT, Transport, build
from tests.harness import serve

BURST = 16


async def outbox_rows(app: Any) -> list[Outbox]:
    async with app.db.transaction() as session:
        return list((await session.exec(select(Outbox).order_by(col(Outbox.id)))).all())


async def test_replies_through_response_url_do_not_wait_behind_the_group_robot(
    make_app: Any, standin: WeComStandIn
) -> None:
    app, adapter = await build(make_app, standin, "http")
    bob = User("wecom:bob", "bob")
    pings = [
        OutboundMessage(platform="wecom", chat_id=CHAT, text=f"⚠️ #{i} overdue", mentions=(bob,), lane=Lane.URGENT)
        for i in range(25)
    ]
    async with app.db.transaction() as session:  # more pings than the robot's minute allows
        await repo.enqueue(session, [(f"ping-{i}", m.to_json(), int(m.lane)) for i, m in enumerate(pings)],
                           now=app.clock.now())  # fmt: skip
    await app.deliver()
    assert len(standin.robot_to(CHAT)) == 20  # the robot's minute is used up; 5 pings wait

    server = await serve(app)
    wecom = Transport("http", standin, adapter, str(server.make_url("/callback/wecom")))
    try:
        for n in range(BURST):  # a burst of commands, each with its own response_url
            await wecom.deliver(standin.message("@RiskBot /help", sender=f"member{n}", msgid=f"burst-{n}"))
        async with asyncio.timeout(10):
            while len([r for r in await outbox_rows(app) if r.key.startswith("reply:")]) < BURST:  # noqa: ASYNC110
                await asyncio.sleep(0.01)  # processed in the background on transports that answer first
        await app.deliver()
        assert len(standin.responses) == BURST  # every reply at once, through its own response_url
        assert len(standin.robot_to(CHAT)) == 20  # and the robot's limit still holds for the pings
        replies = [r for r in await outbox_rows(app) if r.key.startswith("reply:")]
        assert {r.state for r in replies} == {"sent"}
        assert len({r.channel for r in replies}) == BURST and all(r.channel.startswith("reply:") for r in replies)
        waiting = [r for r in await outbox_rows(app) if r.key.startswith("ping-") and r.state == "pending"]
        assert len(waiting) == 5 and all(r.attempts == 0 for r in waiting)

        await app.advance(timedelta(minutes=1, seconds=2))  # the robot's minute, with the worker's margin
        assert len(standin.robot_to(CHAT)) == 25  # the next minute's pings
    finally:
        await server.close()


def test_a_reply_with_its_own_reply_channel_waits_in_that_channel() -> None:
    from hubao.adapters.wecom.adapter import WeComAdapter

    http_reply = {"reply_handle": {"transport": "http", "response_url": "https://qyapi.weixin.qq.com/x?code=1"}}
    ws_reply = {"reply_handle": {"transport": "ws", "req_id": "req-1"}}
    assert WeComAdapter.channel_of(http_reply).startswith("reply:")
    assert WeComAdapter.channel_of(ws_reply).startswith("reply:")
    assert WeComAdapter.channel_of(http_reply) != WeComAdapter.channel_of(ws_reply)
    assert WeComAdapter.channel_of({"reply_handle": {}}) == ""  # proactive: the chat's own channel
