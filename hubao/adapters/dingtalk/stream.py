"""DingTalk Stream mode on aiohttp: the documented frames, without the ``dingtalk-stream`` SDK.

1. ``POST gateway_url`` ``{clientId, clientSecret, subscriptions, ua, localIp}`` →
   ``{endpoint, ticket}``; 2. WebSocket ``endpoint?ticket=…``; 3. frames
   ``{specVersion, type: SYSTEM|EVENT|CALLBACK, headers: {messageId, topic, …}, data: "<json>"}``.

Every CALLBACK frame is ACKed (``{"code":200,"headers":{"messageId"},…}``) as soon as the
callback has stored it (one insert) and processed afterwards, so slow processing never causes a
redelivery and an ACKed frame is never lost; one that could not be stored is left un-ACKed for
DingTalk to deliver again. EVENT frames are ACKed at once; SYSTEM ``ping`` frames
are echoed; SYSTEM ``disconnect`` makes us open a fresh connection. A connection with no
inbound traffic at all (frames, WebSocket pings or the pongs to our own pings) for
``keepalive`` seconds is treated as dead and replaced: TCP can stay open while the gateway has
stopped delivering.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote_plus

import aiohttp

log = logging.getLogger(__name__)

TOPIC_BOT_MESSAGE = "/v1.0/im/bot/messages/get"
TOPIC_CARD_CALLBACK = "/v1.0/card/instances/callback"
USER_AGENT = "hubao-dingtalk-stream/1 (aiohttp)"

OnCallback = Callable[[str, Any, str], Awaitable[None]]


class StreamError(Exception):
    """Opening the connection failed (credentials, gateway answer)."""


class StreamClient:
    def __init__(
        self,
        *,
        gateway_url: str,
        client_id: str,
        client_secret: str,
        session: aiohttp.ClientSession,
        on_callback: OnCallback,
        ping_interval: float = 20.0,
        keepalive: float = 60.0,
        reconnect_min: float = 1.0,
        reconnect_max: float = 60.0,
        request_timeout: float = 10.0,
        topics: tuple[str, ...] = (TOPIC_BOT_MESSAGE, TOPIC_CARD_CALLBACK),
    ) -> None:
        self.gateway_url = gateway_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.session = session
        self.on_callback = on_callback
        self.ping_interval = ping_interval
        self.keepalive = keepalive
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.request_timeout = request_timeout
        self.topics = topics
        self._task: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._stopping = False
        self.connections = 0  # how many WebSocket connections were opened (for health and tests)
        self.connected = asyncio.Event()

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="dingtalk-stream")

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        ws = self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), timeout=1.0)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---- the loop ----------------------------------------------------------------------

    async def open_connection(self) -> tuple[str, str]:
        body = {
            "clientId": self.client_id,
            "clientSecret": self.client_secret,
            "subscriptions": [{"type": "CALLBACK", "topic": t} for t in self.topics],
            "ua": USER_AGENT,
            "localIp": "",
        }
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        try:
            async with self.session.post(self.gateway_url, json=body, timeout=timeout) as resp:
                text = await resp.text()
                if resp.status != 200:
                    raise StreamError(f"open connection: HTTP {resp.status} {text[:200]}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise StreamError(f"open connection: {type(exc).__name__}: {exc}") from exc
        try:
            data = json.loads(text)
            endpoint, ticket = data["endpoint"], data["ticket"]
        except (ValueError, KeyError, TypeError) as exc:
            raise StreamError("open connection: answer lacks endpoint/ticket") from exc
        if not isinstance(endpoint, str) or not isinstance(ticket, str):
            raise StreamError("open connection: answer lacks endpoint/ticket")
        return endpoint, ticket

    async def _run(self) -> None:
        delay = self.reconnect_min
        while not self._stopping:
            try:
                endpoint, ticket = await self.open_connection()
                sep = "&" if "?" in endpoint else "?"
                url = f"{endpoint}{sep}ticket={quote_plus(ticket)}"
                async with self.session.ws_connect(url, autoping=False, heartbeat=None) as ws:
                    self._ws = ws
                    self.connections += 1
                    self.connected.set()
                    log.info("dingtalk stream connected (#%d)", self.connections)
                    healthy = await self._serve(ws)
                    if healthy:
                        delay = self.reconnect_min
            except asyncio.CancelledError:
                raise
            except StreamError as exc:
                log.warning("dingtalk stream: %s", exc)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.warning("dingtalk stream connection failed: %s: %s", type(exc).__name__, exc)
            except Exception:
                log.exception("dingtalk stream: unexpected error")
            finally:
                self._ws = None
                self.connected.clear()
            if self._stopping:
                break
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            delay = min(delay * 2, self.reconnect_max)

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        """Read frames until the connection ends; True if it delivered anything (healthy)."""
        pinger = asyncio.create_task(self._ping(ws), name="dingtalk-stream-ping")
        delivered = False
        try:
            while True:
                try:
                    msg = await ws.receive(timeout=self.keepalive)
                except TimeoutError:
                    log.warning("dingtalk stream silent for %.0fs; reconnecting", self.keepalive)
                    return delivered
                if msg.type == aiohttp.WSMsgType.PING:
                    await ws.pong(msg.data)
                    continue
                if msg.type == aiohttp.WSMsgType.PONG:
                    continue
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    delivered = True
                    if await self._frame(ws, msg.data) == "disconnect":
                        log.info("dingtalk stream: gateway asked to reconnect")
                        return True
                    continue
                # CLOSE, CLOSING, CLOSED, ERROR
                log.info("dingtalk stream closed (%s)", msg.type.name)
                return delivered
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), timeout=1.0)

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            await asyncio.sleep(self.ping_interval)
            try:
                # A ping write can hang on a stuck socket; bound it so the loop keeps going.
                await asyncio.wait_for(ws.ping(b"hubao"), timeout=self.ping_interval)
            except (TimeoutError, ConnectionError, aiohttp.ClientError, RuntimeError):
                log.debug("dingtalk stream ping failed")

    async def _frame(self, ws: aiohttp.ClientWebSocketResponse, raw: str | bytes) -> str:
        try:
            frame = json.loads(raw)
            headers = frame.get("headers") or {}
            kind = frame.get("type", "")
            topic = headers.get("topic", "")
            message_id = headers.get("messageId", "")
        except (ValueError, AttributeError, RecursionError):
            log.warning("dingtalk stream: unreadable frame dropped")
            return ""
        if kind == "SYSTEM":
            if topic == "ping":
                await self._send(ws, {"code": 200, "headers": headers, "message": "OK", "data": frame.get("data")})
            elif topic == "disconnect":
                return "disconnect"
            return ""
        if kind == "EVENT":
            ack = json.dumps({"status": "SUCCESS", "message": "success"})
            await self._send(ws, self._ack(message_id, ack))
            return ""
        if kind != "CALLBACK":
            log.warning("dingtalk stream: unknown frame type %r", kind)
            return ""
        try:
            data = json.loads(frame.get("data") or "null")
        except (ValueError, TypeError, RecursionError):
            log.warning("dingtalk stream: callback %s with unreadable data dropped", message_id)
            await self._send(ws, self._ack(message_id, json.dumps({"response": None})))
            return ""
        # ACK only once the callback is stored (one insert; processing follows it): DingTalk
        # never sends an ACKed frame again, so an ACK before the insert could lose it.
        try:
            await self.on_callback(topic, data, message_id)
        except Exception:
            log.exception("dingtalk stream: callback %s on %s not stored; not ACKed", message_id, topic)
            return ""
        await self._send(ws, self._ack(message_id, json.dumps({"response": None})))
        return ""

    @staticmethod
    def _ack(message_id: str, data: str) -> dict[str, Any]:
        return {
            "code": 200,
            "headers": {"messageId": message_id, "contentType": "application/json"},
            "message": "OK",
            "data": data,
        }

    @staticmethod
    async def _send(ws: aiohttp.ClientWebSocketResponse, payload: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionError, aiohttp.ClientError, RuntimeError):
            await ws.send_str(json.dumps(payload, ensure_ascii=False))
