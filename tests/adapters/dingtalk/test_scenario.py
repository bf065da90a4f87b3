"""A whole bot (real SQLite, outbox, sweep, ManualClock) behind each DingTalk transport: a risk from
an @-mention becomes a card; a click on the card resolves it with the same role rules as typing.

Between the two, the respond window passes and the escalation sweep @-pings the owner (as a card
whose ``atUserIds`` name them, since a card template is configured).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import aiohttp

from hubao.app import App
from hubao.bot.events import User
from tests.harness import serve

from .standin import CHAT, StandIn

LEADER = User("dingtalk:lead", "Lead")


async def build(make_app: Any, standin: StandIn, **settings: Any) -> App:
    values = standin.settings(**{"card_template_id": "tpl-risk.schema", **settings})
    app: App = await make_app(**{f"dingtalk.{key}": value for key, value in values.items()})
    await app.register_group("dingtalk", CHAT, "互保一组", leader=LEADER)
    return app


async def escalate_and_expect_ping(app: App, standin: StandIn, owner: str) -> None:
    """Let the respond window pass; the owner must be @-pinged through a channel that pings."""
    before = len(standin.sent)
    await app.advance(timedelta(minutes=61))
    pings = [s for s in standin.sent[before:] if owner in s.at_user_ids]
    assert pings, "the owner was not @-pinged after the respond window"
    assert pings[0].channel in ("webhook", "card", "session")


class HttpDingTalk:
    """The callback side of the stand-in: POSTs what DingTalk would to the bot's server."""

    def __init__(self, standin: StandIn, base: str, card_token: str) -> None:
        self.standin = standin
        self.base = base
        self.card_token = card_token

    async def message(self, session: aiohttp.ClientSession, payload: dict[str, Any]) -> int:
        async with session.post(
            f"{self.base}/callback/dingtalk", data=json.dumps(payload), headers=self.standin.signed_headers()
        ) as resp:
            return resp.status

    async def click(self, session: aiohttp.ClientSession, payload: dict[str, Any]) -> int:
        async with session.post(f"{self.base}/callback/dingtalk/card/{self.card_token}", json=payload) as resp:
            return resp.status


async def test_http_risk_from_mention_to_card_click_resolution(make_app: Any, standin: StandIn) -> None:
    app = await build(make_app, standin, transport="http", card_callback_token="cardpath")
    server = await serve(app)
    dingtalk = HttpDingTalk(standin, str(server.make_url("")).rstrip("/"), "cardpath")
    try:
        async with aiohttp.ClientSession() as http:
            message = standin.robot_message("/risk 库存告警阈值太低 @Bob", sender="alice", nick="Alice", at=("bob01",))
            assert await dingtalk.message(http, message) == 200
            assert await dingtalk.message(http, message) == 200  # redelivered: dropped by the kernel
            await app.idle()
            await app.deliver()
            card = standin.card()
            assert card.chat == CHAT
            params = card.body["cardData"]["cardParamMap"]
            assert params["risk"] == "1" and params["show_ack"] == "true"
            assert "库存告警阈值太低" in params["markdown"]

            # Nobody acknowledges within the hour: the sweep pings the owner, for real.
            await escalate_and_expect_ping(app, standin, "bob01")

            # Carol is no owner, reporter or leader: her click is refused like her typing would be.
            assert await dingtalk.click(http, standin.card_click(card, "resolve", "carol02")) == 200
            await app.idle()
            await app.deliver()
            assert standin.of("card_update") == []
            refusal = standin.sent[-1]
            assert refusal.channel == "openapi" and refusal.chat == CHAT

            # Bob, the owner, resolves from the card: the card is refreshed without buttons.
            assert await dingtalk.click(http, standin.card_click(card, "resolve", "bob01")) == 200
            await app.idle()
            await app.deliver()
            [update] = standin.of("card_update")
            assert update.body["outTrackId"] == card.body["outTrackId"]
            assert update.body["cardData"]["cardParamMap"]["has_actions"] == "false"
    finally:
        await server.close()
    assert sum(1 for c in standin.of("card") if c.body["cardData"]["cardParamMap"]["risk"] == "1") >= 1


async def test_stream_risk_from_mention_to_card_click_resolution(make_app: Any, standin: StandIn) -> None:
    app = await build(make_app, standin, transport="stream", keepalive=5.0)
    adapter = app.adapters["dingtalk"]
    await adapter.start()
    await standin.wait_connected()
    mid = await standin.push_message(standin.robot_message("/risk 证书下周过期 @Bob", sender="alice", at=("bob01",)))
    await standin.wait_acked(mid)
    await app.idle()
    await app.deliver()
    card = standin.card()
    assert card.body["callbackType"] == "STREAM"
    await escalate_and_expect_ping(app, standin, "bob01")

    ack = await standin.push_callback("/v1.0/card/instances/callback", standin.card_click(card, "ack", "bob01"))
    await standin.wait_acked(ack)
    await app.idle()
    await app.deliver()
    first = standin.of("card_update")[-1].body["cardData"]["cardParamMap"]
    assert first["show_ack"] == "false" and first["show_resolve"] == "true"

    done = await standin.push_callback("/v1.0/card/instances/callback", standin.card_click(card, "resolve", "bob01"))
    await standin.wait_acked(done)
    await app.idle()
    await app.deliver()
    assert standin.of("card_update")[-1].body["cardData"]["cardParamMap"]["has_actions"] == "false"


async def test_without_a_card_template_escalation_pings_through_the_custom_robot(
    make_app: Any, standin: StandIn
) -> None:
    app = await build(make_app, standin, transport="stream", keepalive=5.0, card_template_id="")
    adapter = app.adapters["dingtalk"]
    await adapter.start()
    await standin.wait_connected()
    mid = await standin.push_message(standin.robot_message("/risk 日志盘 90% @Bob", sender="alice", at=("bob01",)))
    await standin.wait_acked(mid)
    await app.idle()
    await app.deliver()
    reply = standin.sent[-1]
    assert reply.channel == "session" and "/ack #1" in reply.text  # the buttons as commands
    standin.sessions.clear()  # the reply session is long gone by the time escalation runs
    await escalate_and_expect_ping(app, standin, "bob01")
    ping = next(s for s in standin.sent if "bob01" in s.at_user_ids and s.channel != "session")
    assert ping.channel == "webhook" and "@bob01" in ping.text
    assert standin.webhook_rejections == []  # signed correctly
