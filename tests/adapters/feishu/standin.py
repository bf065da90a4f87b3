"""A stand-in Feishu: the open API, the long-connection endpoint, and an event sender.

It speaks the real wire format (independently implemented here): AES-256-CBC ``{"encrypt"}``
bodies signed with ``X-Lark-Signature``, tenant tokens that expire on the shared clock,
``im/v1/messages`` with the ``uuid`` idempotency key, 5/s per chat → HTTP 429 / 99991400 with
``x-ogw-ratelimit-reset``, and protobuf frames over a WebSocket for the long connection.

消息加急 (``PATCH im/v1/messages/{id}/urgent_app|urgent_sms|urgent_phone?user_id_type=open_id``),
as its API pages describe it: only on a message the bot itself sent (else 230001), the bot in the
chat (else 230002), at most 200 unread buzzes per user (then 230024), 50 requests a second per app
(then 429 / 99991400); unknown users come back in ``invalid_user_id_list``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import os
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from hubao.bot.clock import ManualClock

APP_ID = "cli_standin"
APP_SECRET = "standin-app-secret"
ENCRYPT_KEY = "standin-encrypt-key"
VERIFICATION_TOKEN = "standin-verification-token"
BOT_OPEN_ID = "ou_bot"
BOT_NAME = "互保助手"


def encrypt(plaintext: bytes, key: str, iv: bytes | None = None) -> str:
    iv = iv or os.urandom(16)
    padder = padding.PKCS7(128).padder()
    data = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(hashlib.sha256(key.encode()).digest()), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + encryptor.update(data) + encryptor.finalize()).decode()


def sign(timestamp: str, nonce: str, key: str, body: bytes) -> str:
    return hashlib.sha256(timestamp.encode() + nonce.encode() + key.encode() + body).hexdigest()


_ids = itertools.count(1)


def message_event(
    chat_id: str,
    sender: str,
    text: str,
    mentions: dict[str, tuple[str, str]] | None = None,
    *,
    event_id: str | None = None,
    token: str = VERIFICATION_TOKEN,
    create_time_ms: int = 1_700_000_000_000,
) -> dict[str, Any]:
    """An ``im.message.receive_v1`` in a group; ``mentions`` maps ``@_user_N`` → (open_id, name)."""
    n = next(_ids)
    return {
        "schema": "2.0",
        "header": {
            "event_id": event_id or f"ev_{n:08d}",
            "event_type": "im.message.receive_v1",
            "create_time": str(create_time_ms),
            "token": token,
            "app_id": APP_ID,
            "tenant_key": "tk_standin",
        },
        "event": {
            "sender": {
                "sender_id": {"union_id": f"on_{sender}", "user_id": "", "open_id": sender},
                "sender_type": "user",
                "tenant_key": "tk_standin",
            },
            "message": {
                "message_id": f"om_{n:08d}",
                "create_time": str(create_time_ms),
                "chat_id": chat_id,
                "chat_type": "group",
                "message_type": "text",
                "content": json.dumps({"text": text}, ensure_ascii=False),
                "mentions": [
                    {
                        "key": key,
                        "id": {"union_id": f"on_{oid}", "user_id": "", "open_id": oid},
                        "name": name,
                        "tenant_key": "tk_standin",
                    }
                    for key, (oid, name) in (mentions or {}).items()
                ],
            },
        },
    }


def card_event(
    chat_id: str,
    operator: str,
    value: Any,
    *,
    message_id: str = "om_card",
    event_id: str | None = None,
    token: str = VERIFICATION_TOKEN,
) -> dict[str, Any]:
    """A ``card.action.trigger`` callback for a button click."""
    n = next(_ids)
    return {
        "schema": "2.0",
        "header": {
            "event_id": event_id or f"cb_{n:08d}",
            "token": token,
            "create_time": "1700000000000000",
            "event_type": "card.action.trigger",
            "tenant_key": "tk_standin",
            "app_id": APP_ID,
        },
        "event": {
            "operator": {"tenant_key": "tk_standin", "user_id": "", "open_id": operator, "union_id": ""},
            "token": f"c-{n}",
            "action": {"value": value, "tag": "button"},
            "host": "im_message",
            "context": {"open_message_id": message_id, "open_chat_id": chat_id},
        },
    }


def signed_request(
    payload: dict[str, Any] | bytes,
    *,
    clock: ManualClock,
    encrypt_key: str = ENCRYPT_KEY,
    skew: float = 0.0,
    signed: bool = True,
) -> tuple[bytes, dict[str, str]]:
    """What Feishu POSTs with an Encrypt Key set: the encrypted body and its signature headers."""
    plain = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    body = json.dumps({"encrypt": encrypt(plain, encrypt_key)}).encode()
    headers = {"Content-Type": "application/json"}
    if signed:
        timestamp, nonce = str(int(clock.now().timestamp() + skew)), os.urandom(4).hex()
        headers |= {
            "X-Lark-Request-Timestamp": timestamp,
            "X-Lark-Request-Nonce": nonce,
            "X-Lark-Signature": sign(timestamp, nonce, encrypt_key, body),
        }
    return body, headers


@dataclass
class Sent:
    chat_id: str
    msg_type: str
    content: dict[str, Any]
    uuid: str
    message_id: str

    @property
    def text(self) -> str:
        """All readable text of the message (text, post paragraphs, card elements)."""
        return json.dumps(self.content, ensure_ascii=False) if self.msg_type != "text" else self.content["text"]

    @property
    def mentions(self) -> set[str]:
        """open_ids (and ``all``) this message really pings."""
        raw = json.dumps(self.content, ensure_ascii=False)
        found = set(re.findall(r'<at user_id=\\?"([^"\\]+)\\?">', raw))
        found |= set(re.findall(r"<at id=([A-Za-z0-9_\-]+)></at>", raw))
        if self.msg_type == "post":
            for paragraph in self.content["zh_cn"]["content"]:
                found |= {e["user_id"] for e in paragraph if e.get("tag") == "at"}
        return found

    @property
    def buttons(self) -> list[dict[str, Any]]:
        if self.msg_type != "interactive":
            return []
        return [a["value"] for e in self.content["elements"] if e["tag"] == "action" for a in e["actions"]]


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FeishuStandIn:
    """``await standin.start()``; point ``api_base``/``ws_endpoint_url`` at ``standin.url``."""

    def __init__(self, clock: ManualClock, *, token_lifetime: int = 7200, chat_rate: int = 5) -> None:
        self.clock = clock
        self.token_lifetime = token_lifetime
        self.chat_rate = chat_rate
        self.tokens: dict[str, datetime] = {}
        self.token_requests = 0
        self.sent: list[Sent] = []
        self.updates: list[tuple[str, dict[str, Any]]] = []
        self.requests: list[tuple[str, str]] = []
        self.uuids: dict[str, str] = {}
        # 消息加急: (kind, message_id, open_ids) accepted; users it knows; chats the bot has left
        self.urgents: list[tuple[str, str, list[str]]] = []
        self.urgent_requests = 0
        self.urgent_users: set[str] = {"ou_alice", "ou_bob", "ou_carol", "ou_lead", "ou_dave"}
        self.unread_buzzes: dict[str, int] = {}
        self.left_chats: set[str] = set()
        self.urgent_rate = 50
        self.urgent_window: deque[datetime] = deque()
        self.urgent_fail_next: deque[Reply] = deque()
        self.fail_next: deque[Reply] = deque()
        self.per_chat: dict[str, deque[datetime]] = {}
        self.client_config = {"PingInterval": 120, "ReconnectCount": -1, "ReconnectInterval": 0.05, "ReconnectNonce": 0}
        self.pong_config: dict[str, Any] | None = None
        self.ws_refuse = False
        # open_id → name the contact API may reveal (others: no permission, as without the scope)
        self.names: dict[str, str] = {"ou_alice": "Alice", "ou_bob": "Bob", "ou_carol": "Carol"}
        self.name_lookups = 0
        self.sockets: list[web.WebSocketResponse] = []
        self.pings = 0
        self.mute = False  # stop answering anything (a half-open connection)
        self.ws_answers: dict[str, asyncio.Future[Any]] = {}
        self.connected = asyncio.Event()
        self._frame_class: Any = None
        self._message_ids = itertools.count(1)
        app = web.Application()
        app.router.add_post("/open-apis/auth/v3/tenant_access_token/internal", self._token)
        app.router.add_post("/open-apis/im/v1/messages", self._create)
        app.router.add_patch("/open-apis/im/v1/messages/{message_id}", self._patch)
        app.router.add_patch("/open-apis/im/v1/messages/{message_id}/urgent_{kind}", self._urgent)
        app.router.add_get("/open-apis/bot/v3/info", self._bot_info)
        app.router.add_get("/open-apis/contact/v3/users/{user_id}", self._user)
        app.router.add_post("/callback/ws/endpoint", self._endpoint)
        app.router.add_get("/ws", self._ws)
        self.server = TestServer(app, host="127.0.0.1")

    async def start(self) -> None:
        from lark_oapi.ws.pb.pbbp2_pb2 import Frame

        self._frame_class = Frame
        await self.server.start_server()

    async def close(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        await self.server.close()

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def sent_to(self, chat_id: str) -> list[Sent]:
        return [s for s in self.sent if s.chat_id == chat_id]

    # -- open API ------------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        self.requests.append(("token", ""))
        body = await request.json()
        self.token_requests += 1
        if body.get("app_id") != APP_ID or body.get("app_secret") != APP_SECRET:
            return web.json_response({"code": 10014, "msg": "app secret invalid"}, status=400)
        token = f"t-{self.token_requests}"
        self.tokens[token] = self.clock.now() + timedelta(seconds=self.token_lifetime)
        return web.json_response({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": self.token_lifetime})

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def _auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ")
        if not header.startswith("Bearer ") or token not in self.tokens:
            return web.json_response({"code": 99991663, "msg": "Invalid access token for authorization."}, status=400)
        if self.tokens[token] <= self.clock.now():
            return web.json_response({"code": 99991663, "msg": "token expired"}, status=400)
        return None

    async def _create(self, request: web.Request) -> web.Response:
        self.requests.append(("create", request.query.get("receive_id_type", "")))
        if (denied := self._auth(request)) is not None:
            return denied
        if self.fail_next:
            reply = self.fail_next.popleft()
            return web.json_response(reply.body, status=reply.status, headers=reply.headers)
        if request.query.get("receive_id_type") != "chat_id":
            return web.json_response({"code": 99992402, "msg": "field validation failed"}, status=400)
        body = await request.json()
        uuid = body.get("uuid", "")
        if uuid and uuid in self.uuids:  # idempotent: the same uuid never posts twice
            return web.json_response({"code": 0, "msg": "success", "data": {"message_id": self.uuids[uuid]}})
        chat = body["receive_id"]
        now = self.clock.now()
        window = self.per_chat.setdefault(chat, deque())
        while window and now - window[0] >= timedelta(seconds=1):
            window.popleft()
        if len(window) >= self.chat_rate:
            return web.json_response(
                {"code": 99991400, "msg": "request trigger frequency limit"},
                status=429,
                headers={"x-ogw-ratelimit-limit": str(self.chat_rate), "x-ogw-ratelimit-reset": "1"},
            )
        window.append(now)
        content = json.loads(body["content"])
        message_id = f"om_sent_{next(self._message_ids)}"
        if uuid:
            self.uuids[uuid] = message_id
        self.sent.append(Sent(chat, body["msg_type"], content, uuid, message_id))
        return web.json_response({"code": 0, "msg": "success", "data": {"message_id": message_id}})

    async def _patch(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        body = await request.json()
        self.updates.append((request.match_info["message_id"], json.loads(body["content"])))
        return web.json_response({"code": 0, "msg": "success", "data": {}})

    async def _urgent(self, request: web.Request) -> web.Response:
        self.urgent_requests += 1
        if (denied := self._auth(request)) is not None:
            return denied
        kind = request.match_info["kind"]
        if kind not in ("app", "sms", "phone"):
            return web.json_response({"code": 404, "msg": "not found"}, status=404)
        if self.urgent_fail_next:
            reply = self.urgent_fail_next.popleft()
            return web.json_response(reply.body, status=reply.status, headers=reply.headers)
        now = self.clock.now()
        while self.urgent_window and now - self.urgent_window[0] >= timedelta(seconds=1):
            self.urgent_window.popleft()
        if len(self.urgent_window) >= self.urgent_rate:
            return web.json_response({"code": 99991400, "msg": "request trigger frequency limit"}, status=429,
                                     headers={"x-ogw-ratelimit-reset": "1"})  # fmt: skip
        self.urgent_window.append(now)
        if request.query.get("user_id_type") != "open_id":
            return web.json_response({"code": 99992402, "msg": "field validation failed"}, status=400)
        message_id = request.match_info["message_id"]
        sent = next((m for m in self.sent if m.message_id == message_id), None)
        if sent is None:
            return web.json_response({"code": 230001, "msg": "invalid message_id"}, status=400)
        if sent.chat_id in self.left_chats:
            return web.json_response({"code": 230002, "msg": "The bot can not be outside the group."}, status=400)
        body = await request.json()
        ids = body.get("user_id_list")
        if not isinstance(ids, list) or not ids:
            return web.json_response({"code": 99992402, "msg": "field validation failed"}, status=400)
        if any(self.unread_buzzes.get(i, 0) >= 200 for i in ids):
            return web.json_response({"code": 230024, "msg": "Reach the upper limit of urgent message."},
                                     status=400)  # fmt: skip
        valid = [i for i in ids if i in self.urgent_users]
        for user in valid:
            self.unread_buzzes[user] = self.unread_buzzes.get(user, 0) + 1
        self.urgents.append((kind, message_id, valid))
        invalid = [i for i in ids if i not in self.urgent_users]
        return web.json_response({"code": 0, "msg": "success", "data": {"invalid_user_id_list": invalid}})

    async def _bot_info(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        return web.json_response(
            {"code": 0, "msg": "ok", "bot": {"activate_status": 2, "app_name": BOT_NAME, "open_id": BOT_OPEN_ID}}
        )

    async def _user(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        self.name_lookups += 1
        open_id = request.match_info["user_id"]
        if request.query.get("user_id_type") != "open_id" or open_id not in self.names:
            return web.json_response({"code": 41050, "msg": "no user authority error"}, status=400)
        return web.json_response(
            {"code": 0, "msg": "success", "data": {"user": {"open_id": open_id, "name": self.names[open_id]}}}
        )

    # -- long connection -------------------------------------------------------------------------

    async def _endpoint(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("AppID") != APP_ID or body.get("AppSecret") != APP_SECRET:
            return web.json_response({"code": 10014, "msg": "app secret invalid"})
        ws_url = self.url.replace("http://", "ws://") + "/ws?device_id=dev_1&service_id=7"
        return web.json_response({"code": 0, "msg": "ok", "data": {"URL": ws_url, "ClientConfig": self.client_config}})

    def _frame(self, method: int, headers: dict[str, str], payload: bytes = b"") -> Any:
        frame = self._frame_class()
        frame.SeqID, frame.LogID, frame.service, frame.method = 1, 1, 7, method
        for key, value in headers.items():
            item = frame.headers.add()
            item.key, item.value = key, value
        frame.payload = payload
        return frame

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if self.ws_refuse:
            return web.Response(status=403, headers={"handshake-status": "403", "handshake-msg": "forbidden"})
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        self.connected.set()
        try:
            async for message in ws:
                if message.type != WSMsgType.BINARY or self.mute:
                    continue
                frame = self._frame_class()
                frame.ParseFromString(message.data)
                headers = {h.key: h.value for h in frame.headers}
                if frame.method == 0 and headers.get("type") == "ping":
                    self.pings += 1
                    payload = json.dumps(self.pong_config).encode() if self.pong_config else b""
                    await ws.send_bytes(self._frame(0, {"type": "pong"}, payload).SerializeToString())
                elif frame.method == 1:
                    future = self.ws_answers.get(headers.get("message_id", ""))
                    if future is not None and not future.done():
                        future.set_result((headers, json.loads(frame.payload)))
        finally:
            self.sockets.remove(ws)
            if not self.sockets:
                self.connected.clear()
        return ws

    async def push(
        self, payload: dict[str, Any] | bytes, *, parts: int = 1, kind: str = "event", wait: float = 5
    ) -> Any:
        """Send one event frame (split into ``parts``); wait for and return the client's answer.

        Returns (response headers, decoded answer JSON or None, response code).
        """
        await asyncio.wait_for(self.connected.wait(), 5)
        ws = self.sockets[-1]
        raw = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        message_id = f"msg_{next(_ids)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.ws_answers[message_id] = future
        size = -(-len(raw) // parts)
        for seq in range(parts):
            headers = {"type": kind, "message_id": message_id, "sum": str(parts), "seq": str(seq), "trace_id": "tr"}
            await ws.send_bytes(self._frame(1, headers, raw[seq * size : (seq + 1) * size]).SerializeToString())
        headers, response = await asyncio.wait_for(future, wait)
        data = response.get("data")
        answer = json.loads(base64.b64decode(data)) if data else None
        return headers, answer, response.get("code")

    async def drop_connections(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
