"""A whole bot (real SQLite, outbox, escalation sweep, ManualClock) behind each WeCom transport.

A risk reported with an @-mention of the bot becomes a card with buttons; when nobody
acknowledges within the respond window the owner is @-pinged for real (group robot
``mentioned_list``); the owner's click on the card's resolve button resolves it, with the same
role rules as typing ``/resolve #1``, and the card is updated in place.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from hubao.adapters.wecom.adapter import WeComAdapter
from hubao.app import App
from hubao.bot.events import User
from tests.adapters.wecom.conftest import WEBHOOK_KEYS, until
from tests.adapters.wecom.standin import WeComStandIn, wx_encrypt
from tests.harness import serve

CHAT = "wrGroup1"
LEADER = User("wecom:lead", "Lead")


async def build(make_app: Any, standin: WeComStandIn, transport: str) -> tuple[App, WeComAdapter]:
    values = {
        "enabled": True,
        "transport": transport,
        "bot_name": "RiskBot",
        "token": standin.token,
        "encoding_aes_key": standin.aes_key,
        "bot_id": standin.bot_id,
        "secret": standin.secret,
        "ws_url": standin.ws_url,
        "api_base": standin.base,
        "webhook_keys": {chat: key for key, chat in WEBHOOK_KEYS.items()},
        "heartbeat_interval": 5.0,
        "reconnect_min": 0.02,
        "lease_ttl": 3.0,
    }
    app: App = await make_app(**{f"wecom.{key}": value for key, value in values.items()})
    await app.register_group("wecom", CHAT, "互保一组", leader=LEADER)
    adapter = app.adapters["wecom"]
    assert isinstance(adapter, WeComAdapter)
    return app, adapter


class Transport:
    """What WeCom does for one transport: deliver a callback, and show what the bot answered."""

    def __init__(self, kind: str, standin: WeComStandIn, adapter: WeComAdapter, url: str = "") -> None:
        self.kind, self.standin, self.adapter, self.url = kind, standin, adapter, url

    async def deliver(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """Send one callback; returns the decrypted passive reply (HTTP) if there was one."""
        if self.kind == "ws":
            seen = self.adapter.received
            await self.standin.push(body)
            await until(lambda: self.adapter.received > seen)
            return None
        encrypt = wx_encrypt(self.standin.aes_key, json.dumps(body, ensure_ascii=False), "")
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.url, params=self.standin.signed_query(encrypt), json={"encrypt": encrypt}) as response,
        ):
            assert response.status == 200
            text = await response.text()
        return self.standin.open_reply(json.loads(text)) if text else None

    def cards(self) -> list[dict[str, Any]]:
        if self.kind == "ws":
            bodies = [f["body"] for f in self.standin.sent("aibot_respond_msg") + self.standin.sent("aibot_send_msg")]
        else:
            bodies = self.standin.responses
        return [b["template_card"] for b in bodies if b.get("msgtype") == "template_card"]


async def connect(
    app: App, adapter: WeComAdapter, standin: WeComStandIn, transport: str
) -> tuple[Transport, TestServer | None]:
    """The bot on the transport: its long connection up, or its HTTP callback served (returned)."""
    if transport == "ws":
        await adapter.start()
        assert adapter.connection is not None
        await until(adapter.connection.online.is_set)
        return Transport("ws", standin, adapter), None
    server = await serve(app)
    return Transport("http", standin, adapter, str(server.make_url("/callback/wecom"))), server


async def settle(app: App, adapter: WeComAdapter) -> None:
    await app.idle()
    await app.deliver()
    await app.idle()


@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_risk_from_mention_to_escalation_ping_to_card_click_resolution(
    make_app: Any, standin: WeComStandIn, transport: str
) -> None:
    app, adapter = await build(make_app, standin, transport)
    wecom, server = await connect(app, adapter, standin, transport)
    try:
        # Bob speaks once, so the group knows him; then Alice reports a risk naming him owner.
        await wecom.deliver(standin.message("@RiskBot /help", sender="bob"))
        await settle(app, adapter)
        report = standin.message("@RiskBot /risk 备份三天没跑 @bob", sender="alice", msgid="risk-msg-1")
        await wecom.deliver(report)
        await wecom.deliver(report)  # WeCom redelivers: the kernel drops the repeat
        await settle(app, adapter)
        [card] = wecom.cards()
        assert card["card_type"] == "button_interaction"
        assert "备份三天没跑" in json.dumps(card, ensure_ascii=False)
        keys = [b["key"] for b in card["button_list"]]
        assert "hubao_ack_1" in keys and "hubao_resolve_1" in keys

        # Nobody acknowledges: after the respond window Bob is pinged for real by the group robot.
        await app.advance(timedelta(minutes=61))
        await app.idle()
        pings = [b for b in standin.robot_to(CHAT) if "bob" in b.get("text", {}).get("mentioned_list", [])]
        assert pings, standin.robot_to(CHAT)

        # Carol is neither owner, reporter nor leader: her click is refused like her typing would be.
        before = len(wecom.cards())
        await wecom.deliver(standin.click("hubao_resolve_1", card["task_id"], sender="carol"))
        await settle(app, adapter)
        assert standin.sent("aibot_respond_update_msg") == [] and len(wecom.cards()) == before

        # Bob resolves from the card: the same card (task_id) is replaced, without buttons.
        click = standin.click("hubao_resolve_1", card["task_id"], sender="bob", msgid="click-bob")
        passive = await wecom.deliver(click)
        await settle(app, adapter)
        if transport == "ws":
            [frame] = await standin.wait_frame("aibot_respond_update_msg")
            update = frame["body"]
        else:
            assert passive is not None
            update = passive
        assert update["response_type"] == "update_template_card"
        assert update["template_card"]["task_id"] == card["task_id"]
        assert update["template_card"]["button_list"] == []

        # The same click delivered again has no second effect.
        again = await wecom.deliver(click)
        await settle(app, adapter)
        assert again is None
        assert len(standin.sent("aibot_respond_update_msg")) == (1 if transport == "ws" else 0)

        # And the risk stays resolved: Bob pinged no more after another day.
        pinged = len(pings)
        await app.advance(timedelta(hours=25), step=timedelta(minutes=30))
        await app.idle()
        later = [b for b in standin.robot_to(CHAT) if "bob" in b.get("text", {}).get("mentioned_list", [])]
        assert len(later) == pinged
    finally:
        if server is not None:
            await server.close()


@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_a_reminder_to_the_bot_gets_a_card_whose_button_logs_the_risk(
    make_app: Any, standin: WeComStandIn, transport: str
) -> None:
    app, adapter = await build(make_app, standin, transport)
    wecom, server = await connect(app, adapter, standin, transport)
    try:
        await wecom.deliver(standin.message("@RiskBot /help", sender="bob"))  # the group knows Bob
        await settle(app, adapter)
        await wecom.deliver(standin.message("@RiskBot 提醒 @bob 周五前更新证书", sender="alice"))
        await settle(app, adapter)
        [card] = wecom.cards()
        line = "/risk 提醒 更新证书 @bob due:周五前"
        assert line in json.dumps(card, ensure_ascii=False)
        [button] = card["button_list"]
        assert json.loads(button["key"]) == {"hubao": "risk", "text": line}

        await wecom.deliver(standin.click(button["key"], card["task_id"], sender="alice", msgid="tap-1"))
        await settle(app, adapter)
        async with app.db.transaction() as session:
            from sqlalchemy import text

            rows = (await session.exec(text("SELECT content, owner_id FROM risks"))).all()  # type: ignore[call-overload]
        assert [tuple(r) for r in rows] == [("提醒 更新证书", "wecom:bob")]
    finally:
        if server is not None:
            await server.close()
