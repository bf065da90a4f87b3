"""The Feishu long connection ("使用长连接接收事件") on our own event loop.

``lark_oapi.ws.Client`` captures an event loop at import and blocks in ``start()``, so it cannot
share the aiohttp loop. This client speaks the same documented protocol with aiohttp and the
SDK's protobuf ``Frame`` definition (``lark_oapi.ws.pb.pbbp2_pb2``, imported off-loop on start):

1. ``POST {ws_endpoint_url}`` ``{"AppID","AppSecret"}`` → ``data.URL`` (with ``device_id`` and
   ``service_id`` in its query) and ``data.ClientConfig`` (PingInterval, ReconnectInterval,
   ReconnectNonce, ReconnectCount, in seconds);
2. WebSocket to that URL; binary protobuf frames. ``method`` 0 = control (header ``type`` ping/pong;
   a pong may carry a new ClientConfig as JSON), 1 = data (``type`` event/card, ``message_id``,
   ``sum``/``seq`` for split payloads, ``trace_id``);
3. every data frame is answered by the same frame with header ``biz_rt`` (ms) added and payload
   ``{"code":200,"data":base64(JSON answer)}``; the answer to ``card.action.trigger`` is the
   toast/card JSON, so it must come within 3 s;
4. we ping every PingInterval (frame method 0, ``type=ping``, ``service`` = service_id); a
   connection that sends nothing back (not even a pong) for 3 intervals is replaced.

Lost connections are retried forever: first after a random wait up to ReconnectNonce, then
every ReconnectInterval. ``stop()`` closes the socket and returns promptly.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlparse

import aiohttp

from hubao.adapters.feishu.api import FeishuApi
from hubao.adapters.feishu.settings import Settings

log = logging.getLogger(__name__)

CONTROL, DATA = 0, 1
MAX_PARTS_AGE = 5.0  # seconds a split payload may take to arrive completely
SILENCE_PINGS = 3  # a connection that answers none of this many pings is replaced

# payload of one "event" data frame → the JSON answer for its response frame (None: no data)
EventHandler = Callable[[bytes], Awaitable[dict[str, Any] | None]]


def load_frame_class() -> Any:
    """The protobuf ``Frame`` class; importing lark_oapi takes seconds, so call this off-loop."""
    return importlib.import_module("lark_oapi.ws.pb.pbbp2_pb2").Frame


def header(frame: Any, key: str, default: str = "") -> str:
    for item in frame.headers:
        if item.key == key:
            return str(item.value)
    return default


class LongConnection:
    def __init__(
        self,
        settings: Settings,
        api: FeishuApi,
        session: Callable[[], aiohttp.ClientSession],
        on_event: EventHandler,
    ) -> None:
        self._settings = settings
        self._api = api
        self._session = session
        self._on_event = on_event
        self.ping_interval = settings.ws_ping_interval
        self.reconnect_interval = settings.ws_reconnect_interval
        self.reconnect_nonce = settings.ws_reconnect_nonce
        self.connected = asyncio.Event()
        self.connections = 0  # successful connects so far (for doctor output and tests)
        self._frame_class: Any = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._send_lock = asyncio.Lock()
        self._handlers: set[asyncio.Task[None]] = set()
        self._parts: dict[str, tuple[float, list[bytes | None]]] = {}
        self._last_seen = 0.0

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="feishu-long-connection")

    async def stop(self) -> None:
        self._stopping.set()
        ws, task = self._ws, self._task
        self._task = None
        if ws is not None and not ws.closed:
            with contextlib.suppress(TimeoutError, aiohttp.ClientError):
                await asyncio.wait_for(ws.close(), timeout=2)  # an unresponsive peer cannot hold us
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5)

    def configure(self, config: Any) -> None:
        """Apply a server ClientConfig (seconds); unknown or bad values keep the current ones."""
        if not isinstance(config, dict):
            return
        for key, attr in (
            ("PingInterval", "ping_interval"),
            ("ReconnectInterval", "reconnect_interval"),
            ("ReconnectNonce", "reconnect_nonce"),
        ):
            value = config.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                setattr(self, attr, float(value))

    async def _sleep(self, seconds: float) -> bool:
        """Wait, unless stopping; True when it is time to stop."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=max(seconds, 0.0))
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        if self._frame_class is None:  # seconds of import: in a thread, after start() returned
            self._frame_class = await asyncio.to_thread(load_frame_class)
        failures = 0
        while not self._stopping.is_set():
            was_connected = self.connections
            try:
                await self._connect_and_serve()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the connection alive whatever went wrong
                log.warning("feishu long connection: %s", _describe(exc))
            if self._stopping.is_set():
                return
            failures = 0 if self.connections > was_connected else failures + 1
            delay = random.random() * self.reconnect_nonce if failures == 0 else self.reconnect_interval
            log.info("feishu long connection: reconnecting in %.1fs", delay)
            if await self._sleep(delay):
                return

    async def _connect_and_serve(self) -> None:
        data = await self._api.ws_endpoint()
        self.configure(data.get("ClientConfig"))
        url = str(data["URL"])
        query = parse_qs(urlparse(url).query)
        service_id = int((query.get("service_id") or ["0"])[0] or 0)
        async with self._session().ws_connect(url, autoping=True, max_msg_size=8 * 1024 * 1024) as ws:
            self._ws = ws
            self.connections += 1
            self.connected.set()
            log.info("feishu long connection: connected (device %s)", (query.get("device_id") or ["?"])[0])
            self._last_seen = time.monotonic()
            pinger = asyncio.create_task(self._ping_loop(ws, service_id))
            try:
                async for message in ws:
                    self._last_seen = time.monotonic()
                    if message.type == aiohttp.WSMsgType.BINARY:
                        task = asyncio.create_task(self._handle(ws, message.data))
                        self._handlers.add(task)
                        task.add_done_callback(self._handlers.discard)
                    elif message.type == aiohttp.WSMsgType.ERROR:
                        raise ConnectionError(f"websocket error {ws.exception()!r}")
            finally:
                pinger.cancel()
                self._ws = None
                self.connected.clear()
        if not self._stopping.is_set():
            raise ConnectionError(f"closed by server (code {ws.close_code})")

    async def _send(self, ws: aiohttp.ClientWebSocketResponse, frame: Any) -> None:
        async with self._send_lock:
            if not ws.closed:
                await ws.send_bytes(frame.SerializeToString())

    async def _ping_loop(self, ws: aiohttp.ClientWebSocketResponse, service_id: int) -> None:
        while not ws.closed:
            if time.monotonic() - self._last_seen > SILENCE_PINGS * self.ping_interval:
                log.warning("feishu long connection: no pong for %d pings; reconnecting", SILENCE_PINGS)
                await ws.close()
                return
            frame = self._frame_class()
            frame.SeqID, frame.LogID, frame.service, frame.method = 0, 0, service_id, CONTROL
            item = frame.headers.add()
            item.key, item.value = "type", "ping"
            try:
                await self._send(ws, frame)
            except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
                log.debug("feishu long connection: ping failed: %s", exc)
            await asyncio.sleep(self.ping_interval)

    async def _handle(self, ws: aiohttp.ClientWebSocketResponse, data: bytes) -> None:
        try:
            frame = self._frame_class()
            frame.ParseFromString(data)
            kind = header(frame, "type")
            if frame.method == CONTROL:
                if kind == "pong" and frame.payload:
                    self.configure(json.loads(frame.payload))
                return
            if frame.method != DATA or kind != "event":
                return  # legacy "card" frames are ignored, as the SDK does
            payload = self._combine(frame)
            if payload is None:
                return
            started = time.monotonic()
            answer = await self._on_event(payload)
            response: dict[str, Any] = {"code": 200}
            if answer is not None:
                encoded = json.dumps(answer, ensure_ascii=False).encode()
                response["data"] = base64.b64encode(encoded).decode()
            item = frame.headers.add()
            item.key, item.value = "biz_rt", str(int((time.monotonic() - started) * 1000))
            frame.payload = json.dumps(response).encode()
            await self._send(ws, frame)
        except Exception as exc:
            log.warning("feishu long connection: frame dropped: %s", _describe(exc))

    def _combine(self, frame: Any) -> bytes | None:
        total = int(header(frame, "sum", "1") or 1)
        if total <= 1:
            return bytes(frame.payload)
        message_id, seq = header(frame, "message_id"), int(header(frame, "seq", "0"))
        now = time.monotonic()
        self._parts = {k: v for k, v in self._parts.items() if now - v[0] < MAX_PARTS_AGE}
        _, parts = self._parts.setdefault(message_id, (now, [None] * total))
        if not 0 <= seq < len(parts):
            return None
        parts[seq] = bytes(frame.payload)
        if any(p is None for p in parts):
            return None
        del self._parts[message_id]
        return b"".join(p for p in parts if p is not None)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        headers: Mapping[str, str] = exc.headers or {}
        return (
            f"handshake refused: HTTP {exc.status} status {headers.get('handshake-status', '?')} "
            f"{headers.get('handshake-msg', '')} autherr {headers.get('handshake-autherrcode', '-')}"
        )
    return f"{type(exc).__name__}: {exc}"
