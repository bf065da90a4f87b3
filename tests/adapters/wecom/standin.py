"""A stand-in WeCom on 127.0.0.1 speaking the real wire formats.

- callback sender: encrypts and signs AI-bot JSON callbacks like WeCom (own WXBizMsgCrypt on
  ``cryptography``, independent of the adapter's wechatpy-based code) and issues response_urls;
- ``/cgi-bin/aibot/response``: response_url endpoint (single use, valid 1 h);
- ``/ws``: the AI-bot long connection (subscribe + ack, ping ack, callbacks pushed by the test,
  respond / update / send acks, ``disconnected_event`` when a second connection subscribes);
- ``/cgi-bin/webhook/send``: group robot with 20 messages a minute per key, errcode 45009 beyond,
  93000 for an unknown key, 44004 for empty content, 2048 / 4096-byte content limits;
- a self-built app's application messages: ``/cgi-bin/gettoken?corpid&corpsecret`` (40001 for a
  wrong secret, 7200 s tokens) and ``/cgi-bin/message/send?access_token=`` (40014 / 42001 for a bad
  or expired token, 45009 past 30 messages a minute to one member, 81013 when no user is valid,
  ``invaliduser`` listing unknown ones; the duplicate check drops the same content to the same
  users within ``duplicate_check_interval``).

Time comes from the test's ManualClock (rate window, response_url expiry).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import struct
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from hubao.bot.clock import ManualClock

# ---- WXBizMsgCrypt, written out from platforms.md §1.2 --------------------------------------------


def wx_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode()).hexdigest()


def wx_encrypt(aes_key: str, plaintext: str, receive_id: str, random16: bytes | None = None) -> str:
    key = base64.b64decode(aes_key + "=")
    msg = plaintext.encode()
    data = (random16 or secrets.token_bytes(16)) + struct.pack(">I", len(msg)) + msg + receive_id.encode()
    pad = 32 - len(data) % 32
    data += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode()


def wx_decrypt(aes_key: str, encrypt: str) -> tuple[str, str]:
    """(message, receive_id); strict about padding."""
    key = base64.b64decode(aes_key + "=")
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    data = dec.update(base64.b64decode(encrypt)) + dec.finalize()
    pad = data[-1]
    if not 1 <= pad <= 32 or data[-pad:] != bytes([pad]) * pad:
        raise ValueError("bad padding")
    data = data[:-pad]
    (length,) = struct.unpack(">I", data[16:20])
    return data[20 : 20 + length].decode(), data[20 + length :].decode()


# ---- the stand-in --------------------------------------------------------------------------------


@dataclass
class Connection:
    ws: web.WebSocketResponse
    bot_id: str = ""
    pushed: dict[str, str] = field(default_factory=dict)  # req_id -> "msg" | "event"
    answered: set[str] = field(default_factory=set)
    pings: int = 0


class WeComStandIn:
    def __init__(
        self,
        clock: ManualClock,
        *,
        token: str = "aibot-token",
        aes_key: str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
        receive_id: str = "",
        bot_id: str = "BOTID",
        secret: str = "bot-secret",
        webhook_keys: dict[str, str] | None = None,
        rate: int = 20,
    ) -> None:
        self.clock = clock
        self.token, self.aes_key, self.receive_id = token, aes_key, receive_id
        self.bot_id, self.secret = bot_id, secret
        self.webhook_keys = dict(webhook_keys or {})  # key -> chatid
        self.rate = rate
        self.server: TestServer | None = None
        self.robot: list[tuple[str, dict[str, Any]]] = []  # (chatid, body) accepted
        self.robot_refused: list[tuple[int, dict[str, Any]]] = []
        self._robot_window: dict[str, deque[datetime]] = {}
        self.responses: list[dict[str, Any]] = []  # bodies posted to response_urls
        self._response_codes: dict[str, datetime] = {}
        self.frames: list[dict[str, Any]] = []  # every frame the bot sent (pings included)
        self.connections: list[Connection] = []
        self.subscribes = 0
        self.accepted = 0
        self.answer_pings = True
        self.fail_next: dict[str, int] = {}  # cmd -> errcode for its next ack
        self._frame_seen = asyncio.Condition()
        # self-built app (应用消息)
        self.corp_id, self.agent_id, self.app_secret = "ww_corp", 1000002, "app-secret"
        self.app_users = {"alice", "bob", "carol", "lead"}
        self.app_tokens: dict[str, datetime] = {}
        self.app_messages: list[tuple[list[str], str]] = []  # (users reached, text)
        self.app_fail_next: deque[dict[str, Any]] = deque()
        self._app_per_member: dict[str, deque[datetime]] = {}
        self._app_seen: dict[tuple[str, str], datetime] = {}

    # ---- lifecycle ----
    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ws", self._ws)
        app.router.add_post("/cgi-bin/webhook/send", self._webhook)
        app.router.add_post("/cgi-bin/aibot/response", self._response_url)
        app.router.add_get("/cgi-bin/gettoken", self._app_token)
        app.router.add_post("/cgi-bin/message/send", self._app_send)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()

    async def _app_token(self, request: web.Request) -> web.Response:
        if request.query.get("corpid") != self.corp_id or request.query.get("corpsecret") != self.app_secret:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        token = f"app-token-{len(self.app_tokens) + 1}"
        self.app_tokens[token] = self.clock.now() + timedelta(seconds=7200)
        return web.json_response({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})

    async def _app_send(self, request: web.Request) -> web.Response:
        token = request.query.get("access_token", "")
        if token not in self.app_tokens:
            return web.json_response({"errcode": 40014, "errmsg": "invalid access_token"})
        if self.app_tokens[token] <= self.clock.now():
            return web.json_response({"errcode": 42001, "errmsg": "access_token expired"})
        if self.app_fail_next:
            return web.json_response(self.app_fail_next.popleft())
        body = await request.json()
        if body.get("agentid") != self.agent_id or body.get("msgtype") != "text":
            return web.json_response({"errcode": 40056, "errmsg": "invalid agentid"})
        users = [u for u in str(body.get("touser", "")).split("|") if u]
        valid = [u for u in users if u in self.app_users]
        invalid = "|".join(u for u in users if u not in self.app_users)
        if not valid:
            return web.json_response({"errcode": 81013, "errmsg": "user & party & tag all invalid",
                                      "invaliduser": invalid})  # fmt: skip
        now, text = self.clock.now(), body["text"]["content"]
        for user in valid:
            window = self._app_per_member.setdefault(user, deque())
            while window and now - window[0] >= timedelta(seconds=60):
                window.popleft()
            if len(window) >= 30:
                return web.json_response({"errcode": 45009, "errmsg": "api freq out of limit"})
        interval = timedelta(seconds=int(body.get("duplicate_check_interval", 1800)))
        fresh = [u for u in valid if not (body.get("enable_duplicate_check") and
                                          now - self._app_seen.get((u, text), now - interval - interval) < interval)]
        for user in fresh:
            self._app_per_member[user].append(now)
            self._app_seen[(user, text)] = now
        if fresh:
            self.app_messages.append((fresh, text))
        return web.json_response({"errcode": 0, "errmsg": "ok", "invaliduser": invalid, "msgid": secrets.token_hex(8)})

    async def close(self) -> None:
        for conn in list(self.connections):
            await conn.ws.close()
        if self.server is not None:
            await self.server.close()

    @property
    def base(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/ws"

    # ---- callback bodies (doc 100719 / 101027) ----
    def new_response_url(self) -> str:
        code = secrets.token_urlsafe(12)
        self._response_codes[code] = self.clock.now()
        return f"{self.base}/cgi-bin/aibot/response?response_code={code}"

    def message(
        self,
        text: str,
        *,
        chat: str = "wrGroup1",
        sender: str = "zhangsan",
        msgid: str | None = None,
        chattype: str = "group",
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "msgid": msgid or secrets.token_hex(8),
            "aibotid": self.bot_id,
            "chattype": chattype,
            "from": {"userid": sender},
            "response_url": self.new_response_url(),
            "msgtype": "text",
            "text": {"content": text},
        }
        if chattype == "group":
            body["chatid"] = chat
        return body

    def click(
        self,
        event_key: str,
        task_id: str,
        *,
        chat: str = "wrGroup1",
        sender: str = "zhangsan",
        msgid: str | None = None,
    ) -> dict[str, Any]:
        return {
            "msgid": msgid or secrets.token_hex(8),
            "create_time": int(self.clock.now().timestamp()),
            "aibotid": self.bot_id,
            "chatid": chat,
            "chattype": "group",
            "from": {"userid": sender},
            "response_url": self.new_response_url(),
            "msgtype": "event",
            "event": {
                "eventtype": "template_card_event",
                "template_card_event": {"card_type": "button_interaction", "event_key": event_key, "task_id": task_id},
            },
        }

    def signed_query(self, encrypt: str, *, timestamp: int | None = None, nonce: str = "") -> dict[str, str]:
        ts = str(int(self.clock.now().timestamp()) if timestamp is None else timestamp)
        nonce = nonce or secrets.token_hex(5)
        return {"msg_signature": wx_signature(self.token, ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}

    async def post_callback(
        self,
        url: str,
        body: dict[str, Any] | str,
        *,
        timestamp: int | None = None,
        receive_id: str | None = None,
        signature: str | None = None,
    ) -> aiohttp.ClientResponse:
        """POST one callback to the bot the way WeCom does; returns the (read) response."""
        plain = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        encrypt = wx_encrypt(self.aes_key, plain, self.receive_id if receive_id is None else receive_id)
        query = self.signed_query(encrypt, timestamp=timestamp)
        if signature is not None:
            query["msg_signature"] = signature
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                url, params=query, data=json.dumps({"encrypt": encrypt}), headers={"Content-Type": "application/json"}
            ) as response,
        ):
            await response.read()
            return response

    def open_reply(self, envelope: dict[str, Any], timestamp_check: bool = True) -> dict[str, Any]:
        """Check and decrypt a passive reply ``{encrypt, msgsignature, timestamp, nonce}``."""
        expected = wx_signature(self.token, envelope["timestamp"], envelope["nonce"], envelope["encrypt"])
        assert envelope["msgsignature"] == expected, "passive reply signature does not verify"
        plain, receive_id = wx_decrypt(self.aes_key, envelope["encrypt"])
        assert receive_id == self.receive_id
        return json.loads(plain)

    # ---- response_url ----
    async def _response_url(self, request: web.Request) -> web.Response:
        code = request.query.get("response_code", "")
        issued = self._response_codes.pop(code, None)
        if issued is None:
            return web.json_response({"errcode": 40300, "errmsg": "response_code used or unknown"})
        if self.clock.now() - issued > timedelta(hours=1):
            return web.json_response({"errcode": 40301, "errmsg": "response_code expired"})
        body = await request.json()
        if body.get("msgtype") not in ("markdown", "template_card") and body.get("response_type") != (
            "update_template_card"
        ):
            return web.json_response({"errcode": 40008, "errmsg": "invalid message type"})
        self.responses.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    # ---- group robot ----
    async def _webhook(self, request: web.Request) -> web.Response:
        key = request.query.get("key", "")
        body = await request.json()
        chat = self.webhook_keys.get(key)
        if chat is None:
            return self._robot_error(93000, "invalid webhook url", body)
        kind = body.get("msgtype")
        content = (body.get(kind) or {}).get("content", "") if isinstance(kind, str) else ""
        if not content:
            return self._robot_error(44004, "empty content", body)
        limit = {"text": 2048, "markdown": 4096}.get(kind)
        if limit is None:
            return self._robot_error(40008, "invalid message type", body)
        if len(content.encode()) > limit:
            return self._robot_error(40058, "content exceed max length", body)
        now = self.clock.now()
        window = self._robot_window.setdefault(key, deque())
        while window and now - window[0] >= timedelta(minutes=1):
            window.popleft()
        if len(window) >= self.rate:
            return self._robot_error(45009, "api freq out of limit", body)
        window.append(now)
        self.robot.append((chat, body))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def _robot_error(self, errcode: int, errmsg: str, body: dict[str, Any]) -> web.Response:
        self.robot_refused.append((errcode, body))
        return web.json_response({"errcode": errcode, "errmsg": errmsg})

    def robot_to(self, chat: str) -> list[dict[str, Any]]:
        return [body for c, body in self.robot if c == chat]

    # ---- long connection ----
    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = Connection(ws)
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                frame = json.loads(message.data)
                await self._record(frame)
                await self._handle(conn, frame)
        finally:
            if conn in self.connections:
                self.connections.remove(conn)
        return ws

    async def _record(self, frame: dict[str, Any]) -> None:
        async with self._frame_seen:
            self.frames.append(frame)
            self._frame_seen.notify_all()

    async def _ack(self, conn: Connection, req_id: str, errcode: int = 0, errmsg: str = "ok") -> None:
        await conn.ws.send_json({"headers": {"req_id": req_id}, "errcode": errcode, "errmsg": errmsg})

    async def _handle(self, conn: Connection, frame: dict[str, Any]) -> None:
        cmd = frame.get("cmd")
        req_id = frame.get("headers", {}).get("req_id", "")
        body = frame.get("body") or {}
        if cmd == "aibot_subscribe":
            self.subscribes += 1
            if body.get("bot_id") != self.bot_id or body.get("secret") != self.secret:
                await self._ack(conn, req_id, 40001, "invalid credential")
                await conn.ws.close()
                return
            for old in [c for c in self.connections if c.bot_id == self.bot_id]:
                self.connections.remove(old)
                await old.ws.send_json(
                    {
                        "cmd": "aibot_event_callback",
                        "headers": {"req_id": secrets.token_hex(8)},
                        "body": {
                            "msgid": secrets.token_hex(8),
                            "aibotid": self.bot_id,
                            "create_time": int(self.clock.now().timestamp()),
                            "msgtype": "event",
                            "event": {"eventtype": "disconnected_event"},
                        },
                    }
                )
                await old.ws.close()
            conn.bot_id = self.bot_id
            self.connections.append(conn)
            await self._ack(conn, req_id)
            async with self._frame_seen:
                self.accepted += 1
                self._frame_seen.notify_all()
            return
        if conn not in self.connections:
            await self._ack(conn, req_id, 40002, "not subscribed")
            return
        if cmd == "ping":
            conn.pings += 1
            if self.answer_pings:
                await self._ack(conn, req_id)
            return
        if cmd in self.fail_next:
            await self._ack(conn, req_id, self.fail_next.pop(cmd), "refused by stand-in")
            return
        if cmd in ("aibot_respond_msg", "aibot_respond_update_msg"):
            kind = conn.pushed.get(req_id)
            wanted = "msg" if cmd == "aibot_respond_msg" else "event"
            if kind != wanted or req_id in conn.answered:
                await self._ack(conn, req_id, 40003, "invalid req_id")
                return
            if cmd == "aibot_respond_msg" and body.get("msgtype") not in (
                "stream",
                "template_card",
                "stream_with_template_card",
            ):
                await self._ack(conn, req_id, 40008, "invalid message type")
                return
            if cmd == "aibot_respond_update_msg" and body.get("response_type") != "update_template_card":
                await self._ack(conn, req_id, 40008, "invalid response_type")
                return
            conn.answered.add(req_id)
            await self._ack(conn, req_id)
            return
        if cmd == "aibot_send_msg":
            if not body.get("chatid") or body.get("msgtype") not in ("markdown", "template_card"):
                await self._ack(conn, req_id, 40008, "invalid message")
                return
            await self._ack(conn, req_id)
            return
        await self._ack(conn, req_id, 40004, "unknown cmd")

    async def push(self, body: dict[str, Any], *, cmd: str | None = None) -> str:
        """Deliver one callback frame on the live connection; returns its req_id."""
        assert self.connections, "no subscribed connection"
        conn = self.connections[-1]
        cmd = cmd or ("aibot_event_callback" if body.get("msgtype") == "event" else "aibot_msg_callback")
        req_id = secrets.token_hex(8)
        conn.pushed[req_id] = "event" if cmd == "aibot_event_callback" else "msg"
        await conn.ws.send_json({"cmd": cmd, "headers": {"req_id": req_id}, "body": body})
        return req_id

    def sent(self, cmd: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("cmd") == cmd]

    async def wait_frame(self, cmd: str, count: int = 1, limit: float = 3.0) -> list[dict[str, Any]]:
        """Wait until the bot has sent ``count`` frames of ``cmd``; returns them."""
        async with asyncio.timeout(limit), self._frame_seen:
            await self._frame_seen.wait_for(lambda: len(self.sent(cmd)) >= count)
        return self.sent(cmd)

    async def wait_subscribed(self, count: int = 1, limit: float = 3.0) -> None:
        """Wait until ``count`` subscriptions were accepted in total and one connection is live."""
        async with asyncio.timeout(limit), self._frame_seen:
            await self._frame_seen.wait_for(lambda: self.accepted >= count and bool(self.connections))
