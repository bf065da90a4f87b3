"""The AI bot's WebSocket long connection (doc 101463), spoken with aiohttp's client.

Frames are JSON ``{cmd, headers: {req_id}, body}``; WeCom acknowledges what we send with
``{headers: {req_id}, errcode, errmsg}`` (no ``cmd``). Sequence: connect → ``aibot_subscribe``
{bot_id, secret} → ack → ``ping`` every heartbeat_interval (two unanswered pings = dead) →
``aibot_msg_callback`` / ``aibot_event_callback`` in, ``aibot_respond_msg`` /
``aibot_respond_update_msg`` (echoing the inbound req_id) and ``aibot_send_msg`` out.

WeCom keeps one connection per bot: a new subscription makes it send ``disconnected_event`` to
the old one and close it. So the connection is held under a database lease (one local instance
connects, the others stand by and take over when its lease lapses), and after being displaced by
someone outside that lease we wait ``kicked_backoff`` before subscribing again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp

from hubao.bot.lease import Leases

log = logging.getLogger("hubao.wecom")

SUBSCRIBE = "aibot_subscribe"
PING = "ping"
MSG_CALLBACK = "aibot_msg_callback"
EVENT_CALLBACK = "aibot_event_callback"
RESPOND = "aibot_respond_msg"
RESPOND_UPDATE = "aibot_respond_update_msg"
SEND = "aibot_send_msg"
MAX_FRAME = 4 * 1024 * 1024


class NotConnected(Exception):
    """No authenticated connection right now (standing by, reconnecting, or stopped)."""


class FrameError(Exception):
    """WeCom answered a frame with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"errcode {errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


def new_req_id(cmd: str) -> str:
    return f"{cmd}_{int(time.time() * 1000)}_{secrets.token_hex(4)}"


class LongConnection:
    def __init__(
        self,
        *,
        url: str,
        bot_id: str,
        secret: str,
        leases: Leases,
        session: Callable[[], aiohttp.ClientSession],
        on_frame: Callable[[dict[str, Any], int], None],
        heartbeat_interval: float,
        reconnect_min: float,
        reconnect_max: float,
        ack_timeout: float,
        kicked_backoff: float,
        lease_ttl: float,
    ) -> None:
        self._url = url
        self._bot_id = bot_id
        self._secret = secret
        self._leases = leases
        self._session = session
        self._on_frame = on_frame
        self._heartbeat = heartbeat_interval
        self._reconnect_min = reconnect_min
        self._reconnect_max = reconnect_max
        self._ack_timeout = ack_timeout
        self._kicked_backoff = kicked_backoff
        self._lease_ttl = lease_ttl
        self.lease_name = f"wecom.ws.{bot_id}"
        self.state = "idle"  # idle | standby | connecting | online | kicked | stopped
        self.generation = 0  # counts authenticated connections; a req_id is only valid in its own
        self.connects = 0
        self.last_error = ""
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._holding = False
        self._kicked = False
        self._missed_pongs = 0
        self.online = asyncio.Event()

    # ---- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="wecom-long-connection")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.state = "stopped"
        if self._holding:
            self._holding = False
            with contextlib.suppress(Exception):
                await self._leases.release(self.lease_name)

    @property
    def is_online(self) -> bool:
        return self.online.is_set()

    async def _acquire(self) -> bool:
        try:
            self._holding = await self._leases.try_acquire(self.lease_name, timedelta(seconds=self._lease_ttl))
        except Exception as exc:  # the database is away: do not hold what we cannot prove we hold
            log.warning("wecom: lease check failed (%s)", type(exc).__name__)
            self._holding = False
        return self._holding

    async def _wait(self, seconds: float) -> None:
        """Sleep, renewing the lease if we hold it (so standby instances keep standing by)."""
        step = self._lease_ttl / 3
        while seconds > 0:
            await asyncio.sleep(min(step, seconds))
            seconds -= step
            if self._holding and not await self._acquire():
                return

    async def _run(self) -> None:
        failures = 0
        while True:
            if not await self._acquire():
                if self.state != "standby":
                    log.info("wecom: another instance holds the long connection; standing by")
                self.state = "standby"
                await asyncio.sleep(self._lease_ttl / 3)
                continue
            self.state = "connecting"
            self._kicked = False
            connects = self.connects
            try:
                await self._connect_once()
            except asyncio.CancelledError:
                raise
            except FrameError as exc:
                self.last_error = f"subscribe refused: errcode {exc.errcode} {exc.errmsg}"
                log.error("wecom: %s", self.last_error)
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                self.last_error = f"connection failed: {type(exc).__name__}"
                log.warning("wecom: long %s", self.last_error)
            except Exception as exc:  # never let the connection loop die
                self.last_error = f"connection failed: {type(exc).__name__}"
                log.exception("wecom: long connection failed unexpectedly")
            if self._kicked:
                self.state = "kicked"
                log.error(
                    "wecom: another connection took over bot %s (disconnected_event); retrying in %.0fs. "
                    "Run one deployment per bot.",
                    self._bot_id,
                    self._kicked_backoff,
                )
                await self._wait(self._kicked_backoff)
                failures = 0
                continue
            if self.connects > connects:
                failures = 0  # it was online: start the backoff afresh
            delay = min(self._reconnect_min * 2**failures, self._reconnect_max)
            delay *= 0.8 + 0.4 * secrets.randbelow(1000) / 1000
            failures += 1
            self.state = "connecting"
            await self._wait(delay)

    async def _connect_once(self) -> None:
        async with self._session().ws_connect(
            self._url,
            autoping=True,
            heartbeat=None,
            max_msg_size=MAX_FRAME,
            timeout=aiohttp.ClientWSTimeout(ws_close=min(self._ack_timeout, 1.0)),
        ) as ws:
            self._ws = ws
            try:
                await self._subscribe(ws)
                self.generation += 1
                self.connects += 1
                self.state = "online"
                self.last_error = ""
                self._missed_pongs = 0
                self.online.set()
                log.info("wecom: long connection online")
                helpers = [asyncio.create_task(self._beat(ws)), asyncio.create_task(self._keep_lease(ws))]
                try:
                    await self._read(ws)
                finally:
                    for helper in helpers:
                        helper.cancel()
                    for helper in helpers:
                        with contextlib.suppress(asyncio.CancelledError):
                            await helper
            finally:
                self.online.clear()
                self._ws = None
                for future in self._pending.values():
                    if not future.done():
                        future.set_exception(NotConnected("connection closed"))
                self._pending.clear()

    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        req_id = new_req_id(SUBSCRIBE)
        await ws.send_str(
            _dump(
                {
                    "cmd": SUBSCRIBE,
                    "headers": {"req_id": req_id},
                    "body": {"bot_id": self._bot_id, "secret": self._secret},
                }
            )
        )
        async with asyncio.timeout(self._ack_timeout):
            while True:
                message = await ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise aiohttp.ClientConnectionError("closed before the subscribe ack")
                frame = _load(message.data)
                if frame is not None and _req_id(frame) == req_id and "cmd" not in frame:
                    errcode = frame.get("errcode", -1)
                    if errcode != 0:
                        raise FrameError(
                            int(errcode) if isinstance(errcode, int) else -1, str(frame.get("errmsg", ""))[:120]
                        )
                    return

    async def _beat(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            if self._missed_pongs >= 2:
                log.warning("wecom: two pings unanswered; reconnecting")
                await ws.close()
                return
            self._missed_pongs += 1
            await ws.send_str(_dump({"cmd": PING, "headers": {"req_id": new_req_id(PING)}}))

    async def _keep_lease(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            await asyncio.sleep(self._lease_ttl / 3)
            if not await self._acquire():
                log.warning("wecom: lease lost; closing the long connection")
                await ws.close()
                return

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                if message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                    return
                continue
            frame = _load(message.data)
            if frame is None:
                log.warning("wecom: dropped a frame that is not a JSON object")
                continue
            cmd = frame.get("cmd")
            if not cmd:
                self._ack(frame)
                continue
            if cmd == EVENT_CALLBACK and _eventtype(frame) == "disconnected_event":
                self._kicked = True
                await ws.close()
                return
            if cmd in (MSG_CALLBACK, EVENT_CALLBACK):
                try:
                    self._on_frame(frame, self.generation)
                except Exception:
                    log.exception("wecom: failed to handle a %s frame", cmd)

    def _ack(self, frame: dict[str, Any]) -> None:
        req_id = _req_id(frame)
        if req_id.startswith(PING):
            self._missed_pongs = 0
            return
        future = self._pending.get(req_id)
        if future is not None and not future.done():
            future.set_result(frame)

    # ---- sending ----------------------------------------------------------------------------

    async def request(self, cmd: str, body: dict[str, Any], *, req_id: str | None = None) -> dict[str, Any]:
        """Send one frame and wait for its ack; raises NotConnected, TimeoutError or FrameError."""
        ws = self._ws
        if ws is None or not self.online.is_set() or ws.closed:
            raise NotConnected(self.state)
        req_id = req_id or new_req_id(cmd)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = future
        try:
            await ws.send_str(_dump({"cmd": cmd, "headers": {"req_id": req_id}, "body": body}))
            async with asyncio.timeout(self._ack_timeout):
                ack = await future
        except (ConnectionError, aiohttp.ClientError) as exc:
            raise NotConnected(type(exc).__name__) from None
        finally:
            self._pending.pop(req_id, None)
        errcode = ack.get("errcode", 0)
        if errcode != 0:
            raise FrameError(int(errcode) if isinstance(errcode, int) else -1, str(ack.get("errmsg", ""))[:120])
        return ack


def _dump(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def _load(data: str) -> dict[str, Any] | None:
    try:
        frame = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return frame if isinstance(frame, dict) else None


def _req_id(frame: dict[str, Any]) -> str:
    headers = frame.get("headers")
    value = headers.get("req_id") if isinstance(headers, dict) else None
    return value if isinstance(value, str) else ""


def _eventtype(frame: dict[str, Any]) -> str:
    body = frame.get("body")
    event = body.get("event") if isinstance(body, dict) else None
    value = event.get("eventtype") if isinstance(event, dict) else None
    return value if isinstance(value, str) else ""


async def probe(session: aiohttp.ClientSession, url: str, bot_id: str, secret: str, *, limit: float) -> str | None:
    """``hubao doctor``: subscribe once and report WeCom's answer; None when the bot id and secret work.

    Subscribing displaces a live connection of the same bot, so callers hold the lease first.
    """
    req_id = new_req_id(SUBSCRIBE)
    try:
        async with asyncio.timeout(limit), session.ws_connect(url, heartbeat=None) as ws:
            await ws.send_str(
                _dump({"cmd": SUBSCRIBE, "headers": {"req_id": req_id}, "body": {"bot_id": bot_id, "secret": secret}})
            )
            while True:
                message = await ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    return "wecom.ws_url: connection closed before the subscribe ack"
                frame = _load(message.data)
                if frame is not None and _req_id(frame) == req_id and "cmd" not in frame:
                    errcode = frame.get("errcode", -1)
                    if errcode == 0:
                        return None
                    return (
                        f"wecom.bot_id / wecom.secret refused: errcode {errcode} {str(frame.get('errmsg', ''))[:120]}"
                    )
    except TimeoutError:
        return "wecom.ws_url: no subscribe ack in time"
    except (aiohttp.ClientError, OSError) as exc:
        return f"wecom.ws_url: cannot connect ({type(exc).__name__})"
