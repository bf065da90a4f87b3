"""A whole bot (real SQLite, outbox, ManualClock) behind each Feishu transport: a risk from an
@-mention becomes a card; clicks on the card acknowledge and resolve it, with the same role
rules as typing the commands, answered in the click's own response (toast + refreshed card).

Between the two, the respond window passes and the owner is @-pinged on an escalation card,
whose buttons are then used.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp

from hubao.adapters.feishu.adapter import FeishuAdapter
from hubao.app import App
from hubao.bot.clock import ManualClock
from hubao.bot.events import Button, User
from tests.harness import serve

from .conftest import settings_for
from .standin import BOT_NAME, BOT_OPEN_ID, FeishuStandIn, Sent, card_event, message_event, signed_request

CHAT = "oc_group_1"
LEADER = User("feishu:ou_lead", "Lead")
MENTIONS = {"@_user_1": (BOT_OPEN_ID, BOT_NAME), "@_user_2": ("ou_bob", "Bob")}


async def build(make_app: Any, standin: FeishuStandIn, transport: str) -> tuple[App, FeishuAdapter]:
    values = settings_for(standin, transport=transport).model_dump()
    app: App = await make_app(**{f"feishu.{key}": value for key, value in values.items()})
    await app.register_group("feishu", CHAT, "互保一组", leader=LEADER)
    adapter = app.adapters["feishu"]
    assert isinstance(adapter, FeishuAdapter)
    return app, adapter


class HttpFeishu:
    """The event-sender side of the stand-in: POSTs what Feishu would to the bot's server."""

    def __init__(self, base: str, clock: ManualClock) -> None:
        self.url = base + "/callback/feishu"
        self.clock = clock

    async def post(self, session: aiohttp.ClientSession, payload: dict[str, Any]) -> tuple[int, Any]:
        body, headers = signed_request(payload, clock=self.clock)
        async with session.post(self.url, data=body, headers=headers) as response:
            return response.status, await response.json(content_type=None)


def only_card(standin: FeishuStandIn) -> Sent:
    cards = [s for s in standin.sent_to(CHAT) if s.msg_type == "interactive"]
    assert len(cards) == 1, standin.sent_to(CHAT)
    return cards[0]


def buttons_of(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["value"] for e in card["elements"] if e["tag"] == "action" for a in e["actions"]]


async def test_http_risk_from_mention_to_escalation_to_card_click_resolution(
    make_app: Any, standin: FeishuStandIn, clock: ManualClock
) -> None:
    app, _adapter = await build(make_app, standin, "http")
    server = await serve(app)
    feishu = HttpFeishu(str(server.make_url("")).rstrip("/"), clock)
    try:
        async with aiohttp.ClientSession() as http:
            message = message_event(CHAT, "ou_alice", "@_user_1 /risk 库存告警阈值太低 @_user_2", MENTIONS)
            assert (await feishu.post(http, message))[0] == 200
            assert (await feishu.post(http, message))[0] == 200  # re-pushed: dropped by the kernel
            await app.idle()
            await app.deliver()
            card = only_card(standin)
            assert "库存告警阈值太低" in card.text
            assert {"hubao": "ack", "risk": 1} in card.buttons

            # Nobody acknowledged within the respond window: Bob, the owner, is really @-pinged.
            escalation = await escalate(app, standin)

            # Carol is no owner, reporter or leader: her click is refused like her typing would be.
            click = card_event(CHAT, "ou_carol", Button("resolve", 1).to_value(), message_id=escalation.message_id)
            status, answer = await feishu.post(http, click)
            assert status == 200 and "card" not in answer and answer["toast"]["content"]

            # Bob acknowledges, then resolves, from the escalation card.
            click = card_event(CHAT, "ou_bob", Button("ack", 1).to_value(), message_id=escalation.message_id)
            status, answer = await feishu.post(http, click)
            assert status == 200 and answer["toast"]["type"] == "success"
            assert {"hubao": "ack", "risk": 1} not in buttons_of(answer["card"]["data"])
            assert {"hubao": "resolve", "risk": 1} in buttons_of(answer["card"]["data"])

            click = card_event(CHAT, "ou_bob", Button("resolve", 1).to_value(), message_id=escalation.message_id)
            status, answer = await feishu.post(http, click)
            assert status == 200 and buttons_of(answer["card"]["data"]) == []
            assert (await feishu.post(http, click)) == (200, {})  # the same click re-pushed: no effect
            await app.idle()
            await app.deliver()
    finally:
        await server.close()
    sent = len(standin.sent)
    await app.advance(timedelta(hours=30))
    assert len(standin.sent) == sent, "a resolved risk escalates no more"


async def test_long_connection_risk_from_mention_to_escalation_to_card_click_resolution(
    make_app: Any, standin: FeishuStandIn
) -> None:
    app, adapter = await build(make_app, standin, "long_connection")
    await adapter.start()
    message = message_event(CHAT, "ou_alice", "@_user_1 /risk 证书下周过期 @_user_2", MENTIONS)
    _, answer, code = await standin.push(message)
    assert code == 200 and answer is None
    await app.idle()
    await app.deliver()
    assert "证书下周过期" in only_card(standin).text

    escalation = await escalate(app, standin)

    click = card_event(CHAT, "ou_bob", Button("ack", 1).to_value(), message_id=escalation.message_id)
    _, answer, _ = await standin.push(click)
    assert {"hubao": "resolve", "risk": 1} in buttons_of(answer["card"]["data"])
    click = card_event(CHAT, "ou_bob", Button("resolve", 1).to_value(), message_id=escalation.message_id)
    _, answer, _ = await standin.push(click)
    assert answer["toast"]["type"] == "success" and buttons_of(answer["card"]["data"]) == []
    sent = len(standin.sent)
    await app.advance(timedelta(hours=30))
    assert len(standin.sent) == sent, "a resolved risk escalates no more"


async def escalate(app: App, standin: FeishuStandIn) -> Sent:
    """Let the respond window (1 h) pass; return the escalation card that pinged the owner."""
    before = len(standin.sent)
    await app.advance(timedelta(minutes=61))
    pings = [s for s in standin.sent[before:] if "ou_bob" in s.mentions]
    assert len(pings) == 1, standin.sent[before:]
    ping = pings[0]
    assert ping.msg_type == "interactive" and "all" not in ping.mentions
    assert {"hubao": "ack", "risk": 1} in ping.buttons
    return ping
