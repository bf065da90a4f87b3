"""A stand-in DingTalk on 127.0.0.1, speaking the wire formats the adapter talks to.

- OpenAPI: ``/v1.0/oauth2/accessToken``, ``/v1.0/robot/groupMessages/send``,
  ``/v1.0/card/instances/createAndDeliver``, ``PUT /v1.0/card/instances``,
  ``/v1.0/card/callbacks/register`` (token checked in ``x-acs-dingtalk-access-token``).
- Stream: ``/v1.0/gateway/connections/open`` → ``{endpoint, ticket}``; WebSocket ``/gateway``
  pushing frames, expecting ACKs, redelivering un-ACKed callbacks on the next connection,
  sending SYSTEM ping/disconnect, and a "silent" mode that keeps TCP open but answers nothing.
- Custom robot webhook ``/robot/send`` with signed ``timestamp``/``sign``, 20/min, 130101 block.
- Session webhooks ``/session/<id>``.
- One-to-one robot messages ``/v1.0/robot/oToMessages/batchSend`` (at most 20 ``userIds``; unknown
  ones come back in ``invalidStaffIdList``) and work notifications: legacy ``/gettoken`` and
  ``/topapi/message/corpconversation/asyncsend_v2?access_token=`` (``agent_id``, at most 100 users;
  40014 for a bad token, 88 / 90018 when calls come too fast, as the docs list them).
- The other direction: signed robot callbacks and card callbacks POSTed to the bot.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from hubao.bot.clock import Clock

CLIENT_ID = "dingappkey123"
AGENT_ID = "agent-1"
CLIENT_SECRET = "this is secret"
WEBHOOK_TOKEN = "hooktoken"
WEBHOOK_SECRET = "SECwebhooksecret"
CHAT = "cidGroupOne+/x=="
BOT_DINGTALK_ID = "$:LWCP_v1:$bot"


def dt_sign(secret: str, ts: str) -> str:
    mac = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


@dataclass
class Sent:
    """Something that reached the stand-in from the bot."""

    channel: str  # "openapi" | "webhook" | "session" | "card" | "card_update"
    chat: str
    body: dict[str, Any]

    @property
    def text(self) -> str:
        if self.channel == "openapi":
            param = json.loads(self.body["msgParam"])
            return param.get("content") or param.get("text", "")
        if self.channel in ("webhook", "session"):
            kind = self.body["msgtype"]
            return self.body[kind].get("content") or self.body[kind].get("text", "")
        return self.body["cardData"]["cardParamMap"].get("markdown", "")

    @property
    def at_user_ids(self) -> set[str]:
        if self.channel in ("webhook", "session"):
            return set(self.body.get("at", {}).get("atUserIds", []))
        if self.channel == "card":
            return set(self.body.get("imGroupOpenDeliverModel", {}).get("atUserIds", {}))
        return set()

    @property
    def at_all(self) -> bool:
        if self.channel in ("webhook", "session"):
            return bool(self.body.get("at", {}).get("isAtAll"))
        if self.channel == "card":
            return "@ALL" in self.body.get("imGroupOpenDeliverModel", {}).get("atUserIds", {})
        return False


@dataclass
class Frame:
    message_id: str
    topic: str
    data: dict[str, Any]
    acked: bool = False


@dataclass
class StandIn:
    clock: Clock
    token_ttl: int = 7200
    webhook_limit: int = 20
    sent: list[Sent] = field(default_factory=list)
    token_fetches: int = 0
    valid_tokens: set[str] = field(default_factory=set)
    openapi_failures: deque[tuple[int, dict[str, Any]]] = field(default_factory=deque)
    webhook_failures: deque[dict[str, Any]] = field(default_factory=deque)
    webhook_times: deque[datetime] = field(default_factory=deque)
    webhook_blocked_until: datetime | None = None
    webhook_rejections: list[str] = field(default_factory=list)
    sessions: dict[str, datetime] = field(default_factory=dict)
    registered_callbacks: list[dict[str, Any]] = field(default_factory=list)
    # one-to-one messages and work notifications: (kind, user ids reached, text)
    direct: list[tuple[str, list[str], str]] = field(default_factory=list)
    staff: set[str] = field(default_factory=lambda: {"staff_alice", "staff_bob", "staff_carol", "staff_lead"})
    legacy_tokens: set[str] = field(default_factory=set)
    legacy_failures: deque[dict[str, Any]] = field(default_factory=deque)
    # Stream gateway
    tickets: set[str] = field(default_factory=set)
    connections: int = 0
    opens: int = 0
    frames: dict[str, Frame] = field(default_factory=dict)
    acks: list[dict[str, Any]] = field(default_factory=list)
    ping_echoes: list[dict[str, Any]] = field(default_factory=list)
    silent: bool = False  # the current connection stops answering and delivering
    server: TestServer | None = None
    _ws: web.WebSocketResponse | None = None
    _ack_event: asyncio.Event = field(default_factory=asyncio.Event)
    _conn_event: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # ---- server ------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1.0/oauth2/accessToken", self._token)
        app.router.add_post("/v1.0/robot/groupMessages/send", self._group_send)
        app.router.add_post("/v1.0/card/instances/createAndDeliver", self._card_create)
        app.router.add_put("/v1.0/card/instances", self._card_update)
        app.router.add_post("/v1.0/card/callbacks/register", self._card_register)
        app.router.add_post("/v1.0/gateway/connections/open", self._open)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_post("/robot/send", self._webhook)
        app.router.add_post("/v1.0/robot/oToMessages/batchSend", self._one_to_one)
        app.router.add_get("/gettoken", self._legacy_token)
        app.router.add_post("/topapi/message/corpconversation/asyncsend_v2", self._work_notice)
        app.router.add_post("/session/{sid}", self._session)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()

    async def close(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self.server is not None:
            await self.server.close()

    @property
    def base(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def settings(self, **overrides: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            "enabled": True,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "api_base": self.base,
            "oapi_base": self.base,
            "gateway_url": f"{self.base}/v1.0/gateway/connections/open",
            "webhook_url": f"{self.base}/robot/send?access_token={WEBHOOK_TOKEN}",
            "webhook_secret": WEBHOOK_SECRET,
            "ping_interval": 0.05,
            "keepalive": 0.3,
            "reconnect_min": 0.01,
            "reconnect_max": 0.05,
            "request_timeout": 2.0,
        }
        values.update(overrides)
        return values

    def of(self, channel: str) -> list[Sent]:
        return [s for s in self.sent if s.channel == channel]

    # ---- OpenAPI -----------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("appKey") != CLIENT_ID or body.get("appSecret") != CLIENT_SECRET:
            return web.json_response(
                {"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret"}, status=400
            )
        self.token_fetches += 1
        token = f"tok-{self.token_fetches}"
        self.valid_tokens.add(token)
        return web.json_response({"accessToken": token, "expireIn": self.token_ttl})

    def revoke_tokens(self) -> None:
        self.valid_tokens.clear()

    def _auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("x-acs-dingtalk-access-token") not in self.valid_tokens:
            return web.json_response({"code": "InvalidAuthentication", "message": "不合法的access_token"}, status=401)
        if self.openapi_failures:
            status, body = self.openapi_failures.popleft()
            return web.json_response(body, status=status)
        return None

    async def _group_send(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        body = await request.json()
        if body.get("robotCode") != CLIENT_ID or body.get("msgKey") not in ("sampleText", "sampleMarkdown"):
            return web.json_response({"code": "param.invalid", "message": "bad"}, status=400)
        json.loads(body["msgParam"])
        self.sent.append(Sent("openapi", body["openConversationId"], body))
        return web.json_response({"processQueryKey": uuid.uuid4().hex})

    async def _one_to_one(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        body = await request.json()
        users = body.get("userIds")
        if body.get("robotCode") != CLIENT_ID or body.get("msgKey") not in ("sampleText", "sampleMarkdown"):
            return web.json_response({"code": "param.invalid", "message": "robotCode or msgKey"}, status=400)
        if not isinstance(users, list) or not 0 < len(users) <= 20:
            return web.json_response({"code": "param.invalid", "message": "userIds: 1 to 20"}, status=400)
        content = json.loads(body["msgParam"])
        reached = [u for u in users if u in self.staff]
        self.direct.append(("robot", reached, str(content.get("content") or content.get("text", ""))))
        return web.json_response({"processQueryKey": uuid.uuid4().hex,
                                  "invalidStaffIdList": [u for u in users if u not in self.staff],
                                  "flowControlledStaffIdList": []})  # fmt: skip

    async def _legacy_token(self, request: web.Request) -> web.Response:
        if request.query.get("appkey") != CLIENT_ID or request.query.get("appsecret") != CLIENT_SECRET:
            return web.json_response({"errcode": 40089, "errmsg": "不合法的corpid或corpsecret"})
        token = f"legacy-{len(self.legacy_tokens) + 1}"
        self.legacy_tokens.add(token)
        return web.json_response({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})

    async def _work_notice(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") not in self.legacy_tokens:
            return web.json_response({"errcode": 40014, "errmsg": "不合法的access_token"})
        if self.legacy_failures:
            return web.json_response(self.legacy_failures.popleft())
        body = await request.json()
        users = str(body.get("userid_list", "")).split(",")
        if body.get("agent_id") != AGENT_ID:
            return web.json_response({"errcode": 400002, "errmsg": "agent_id 不合法"})
        if not users or len(users) > 100:
            return web.json_response({"errcode": 400002, "errmsg": "userid_list: 1 to 100"})
        msg = body.get("msg") or {}
        text = msg.get("text", {}).get("content", "")
        self.direct.append(("work_notice", [u for u in users if u in self.staff], text))
        answer = {"errcode": 0, "errmsg": "ok", "task_id": len(self.direct), "request_id": uuid.uuid4().hex}
        return web.json_response(answer)

    async def _card_create(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        body = await request.json()
        space = body.get("openSpaceId", "")
        if not space.startswith("dtv1.card//IM_GROUP.") or not body.get("cardTemplateId"):
            return web.json_response({"code": "param.invalid", "message": "bad"}, status=400)
        self.sent.append(Sent("card", space.removeprefix("dtv1.card//IM_GROUP."), body))
        return web.json_response({"success": True, "result": {"outTrackId": body["outTrackId"]}})

    async def _card_update(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        body = await request.json()
        cards = [s for s in self.of("card") if s.body["outTrackId"] == body.get("outTrackId")]
        if not cards:
            return web.json_response({"code": "card.notExist", "message": "no card"}, status=400)
        self.sent.append(Sent("card_update", cards[0].chat, body))
        return web.json_response({"success": True, "result": True})

    async def _card_register(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        self.registered_callbacks.append(await request.json())
        return web.json_response({"success": True, "result": {}})

    def card(self, index: int = -1) -> Sent:
        return self.of("card")[index]

    # ---- custom robot webhook ----------------------------------------------------------

    async def _webhook(self, request: web.Request) -> web.Response:
        q = request.query
        now = self.clock.now()
        if q.get("access_token") != WEBHOOK_TOKEN:
            return web.json_response({"errcode": 300001, "errmsg": "token is not exist"})
        ts, sign = q.get("timestamp", ""), q.get("sign", "")
        raw_query = request.rel_url.raw_query_string
        raw_sign = raw_query.split("sign=")[-1] if "sign=" in raw_query else ""
        if not ts.isdigit() or abs(ms(now) - int(ts)) > 3600_000:
            self.webhook_rejections.append("timestamp")
            return web.json_response({"errcode": 310000, "errmsg": "sign not match, timestamp is invalid"})
        if not hmac.compare_digest(sign, dt_sign(WEBHOOK_SECRET, ts)) or unquote_plus(raw_sign) != sign:
            self.webhook_rejections.append("sign")
            return web.json_response({"errcode": 310000, "errmsg": "sign not match"})
        if self.webhook_failures:
            return web.json_response(self.webhook_failures.popleft())
        if self.webhook_blocked_until and now < self.webhook_blocked_until:
            return web.json_response({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
        while self.webhook_times and now - self.webhook_times[0] >= timedelta(minutes=1):
            self.webhook_times.popleft()
        if len(self.webhook_times) >= self.webhook_limit:
            self.webhook_blocked_until = now + timedelta(minutes=10)
            return web.json_response({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
        self.webhook_times.append(now)
        body = await request.json()
        if "msgtype" not in body:
            return web.json_response({"errcode": 40035, "errmsg": "缺少参数 msgtype"})
        self.sent.append(Sent("webhook", CHAT, body))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    # ---- session webhook ---------------------------------------------------------------

    def new_session(self, ttl: timedelta = timedelta(minutes=90)) -> tuple[str, int]:
        sid = uuid.uuid4().hex
        expires = self.clock.now() + ttl
        self.sessions[sid] = expires
        return f"{self.base}/session/{sid}", ms(expires)

    async def _session(self, request: web.Request) -> web.Response:
        sid = request.match_info["sid"]
        expires = self.sessions.get(sid)
        if expires is None or self.clock.now() >= expires:
            return web.json_response({"errcode": 300001, "errmsg": "session is expired"})
        body = await request.json()
        self.sent.append(Sent("session", sid, body))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    # ---- robot messages (the other direction) ------------------------------------------

    def robot_message(
        self,
        text: str,
        *,
        sender: str = "alice",
        nick: str = "Alice",
        at: tuple[str, ...] = (),
        msg_id: str | None = None,
        chat: str = CHAT,
        session_ttl: timedelta = timedelta(minutes=90),
    ) -> dict[str, Any]:
        """A group @-message as DingTalk sends it (doc sample shape); the bot's @ already removed."""
        url, expires = self.new_session(session_ttl)
        return {
            "conversationId": chat,
            "atUsers": [{"dingtalkId": BOT_DINGTALK_ID}] + [{"dingtalkId": f"$:{u}", "staffId": u} for u in at],
            "chatbotCorpId": "dingcorp",
            "chatbotUserId": BOT_DINGTALK_ID,
            "msgId": msg_id or f"msg{next(self._ids)}",
            "senderNick": nick,
            "isAdmin": False,
            "senderStaffId": sender,
            "sessionWebhookExpiredTime": expires,
            "createAt": ms(self.clock.now()),
            "senderCorpId": "dingcorp",
            "conversationType": "2",
            "senderId": f"$:LWCP_v1:${sender}",
            "conversationTitle": "互保小组",
            "isInAtList": True,
            "sessionWebhook": url,
            "text": {"content": " " + text},
            "msgtype": "text",
            "robotCode": CLIENT_ID,
        }

    def signed_headers(self, secret: str = CLIENT_SECRET, at: datetime | None = None) -> dict[str, str]:
        ts = str(ms(at or self.clock.now()))
        return {"timestamp": ts, "sign": dt_sign(secret, ts), "Content-Type": "application/json"}

    def card_click(self, card: Sent, action: str, user: str, *, via_param: bool = True) -> dict[str, Any]:
        """A card action callback as the Stream SDK sample shows it."""
        params = {"hubao": action} if via_param else {}
        content = json.dumps({"cardPrivateData": {"actionIds": [f"btn_{action}"], "params": params}})
        return {
            "extension": "{}",
            "corpId": "dingcorp",
            "spaceType": "IM_GROUP",
            "userIdType": 1,
            "type": "actionCallback",
            "userId": user,
            "content": content,
            "spaceId": "",
            "outTrackId": card.body["outTrackId"],
        }

    # ---- Stream gateway ----------------------------------------------------------------

    async def _open(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clientId") != CLIENT_ID or body.get("clientSecret") != CLIENT_SECRET:
            return web.json_response({"code": "InvalidAuthentication", "message": "bad client"}, status=401)
        topics = {s.get("topic") for s in body.get("subscriptions", [])}
        if "/v1.0/im/bot/messages/get" not in topics:
            return web.json_response({"code": "param.invalid", "message": "no subscription"}, status=400)
        self.opens += 1
        ticket = f"t+{uuid.uuid4().hex}/="
        self.tickets.add(ticket)
        return web.json_response({"endpoint": f"ws://127.0.0.1:{self.server.port}/gateway", "ticket": ticket})  # type: ignore[union-attr]

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self.tickets:
            raise web.HTTPForbidden()
        self.tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        self._ws = ws
        self.silent = False  # silence is a property of one (dying) connection
        self.connections += 1
        self._conn_event.set()
        for frame in list(self.frames.values()):  # redeliver what was never ACKed
            if not frame.acked:
                await self._push(ws, frame)
        async for msg in ws:
            if self.silent:
                continue  # TCP stays open; nothing is answered or delivered
            if msg.type == aiohttp.WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                reply = json.loads(msg.data)
                mid = reply.get("headers", {}).get("messageId", "")
                if reply.get("headers", {}).get("topic") == "ping":
                    self.ping_echoes.append(reply)
                elif mid in self.frames:
                    self.frames[mid].acked = True
                    self.acks.append(reply)
                self._ack_event.set()
        return ws

    async def _push(self, ws: web.WebSocketResponse, frame: Frame) -> None:
        await ws.send_str(
            json.dumps(
                {
                    "specVersion": "1.0",
                    "type": "CALLBACK",
                    "headers": {
                        "appId": "app",
                        "connectionId": f"conn{self.connections}",
                        "contentType": "application/json",
                        "messageId": frame.message_id,
                        "time": str(ms(self.clock.now())),
                        "topic": frame.topic,
                    },
                    "data": json.dumps(frame.data, ensure_ascii=False),
                }
            )
        )

    async def wait_connected(self, count: int = 1, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while self.connections < count or self._ws is None or self._ws.closed:
                self._conn_event.clear()
                await self._conn_event.wait()

    async def push_callback(self, topic: str, data: dict[str, Any]) -> str:
        assert self._ws is not None
        frame = Frame(message_id=f"frame-{uuid.uuid4().hex[:8]}", topic=topic, data=data)
        self.frames[frame.message_id] = frame
        await self._push(self._ws, frame)
        return frame.message_id

    async def push_message(self, data: dict[str, Any]) -> str:
        return await self.push_callback("/v1.0/im/bot/messages/get", data)

    async def push_system(self, topic: str, data: str = "{}") -> None:
        assert self._ws is not None
        await self._ws.send_str(
            json.dumps(
                {
                    "specVersion": "1.0",
                    "type": "SYSTEM",
                    "headers": {
                        "messageId": f"sys-{uuid.uuid4().hex[:6]}",
                        "topic": topic,
                        "contentType": "application/json",
                        "time": "0",
                    },
                    "data": data,
                }
            )
        )

    async def redeliver_unacked(self) -> list[str]:
        """Push every callback not ACKed yet again, as DingTalk does (about a minute later)."""
        assert self._ws is not None
        again = [f for f in self.frames.values() if not f.acked]
        for frame in again:
            await self._push(self._ws, frame)
        return [f.message_id for f in again]

    async def wait_acked(self, message_id: str, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while not self.frames[message_id].acked:
                self._ack_event.clear()
                await self._ack_event.wait()

    async def wait_ping_echo(self, within: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while not self.ping_echoes:
                self._ack_event.clear()
                await self._ack_event.wait()
        return self.ping_echoes[-1]

    async def drop_connection(self) -> None:
        """Close the socket without a word, as a broken network would."""
        if self._ws is not None:
            await self._ws.close()
