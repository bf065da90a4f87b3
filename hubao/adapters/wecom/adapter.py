"""The WeCom adapter: AI bot over HTTP callback or long connection, group robot for pings.

Inbound → one InboundEvent → ``context.dispatch``. Outbound, in this order of preference:

- the reply channel of the event being answered: WS ``aibot_respond_msg`` echoing its req_id while
  fresh (``reply_window``), HTTP ``response_url`` (single use, 1 h); a clicked card is updated with
  ``aibot_respond_update_msg`` / the passive reply / response_url;
- proactive: the group robot of the chat when configured (text ``mentioned_list`` is the only
  real @-ping), else ``aibot_send_msg`` over the long connection;
- cards with buttons only go where the AI bot can send them; the robot gets the commands as text.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from hubao.adapters.wecom import Settings
from hubao.adapters.wecom import render as r
from hubao.adapters.wecom.app_message import PER_MEMBER_LIMIT, AppMessenger
from hubao.adapters.wecom.crypto import CryptoError, WeComCrypto
from hubao.adapters.wecom.robot import RobotWebhook, classify, post_json
from hubao.adapters.wecom.wire import PayloadError, decode, parse_button_key
from hubao.adapters.wecom.ws import (
    RESPOND,
    RESPOND_UPDATE,
    SEND,
    FrameError,
    LongConnection,
    NotConnected,
    probe,
)
from hubao.bot import personal
from hubao.bot.adapter import Adapter, AdapterContext, DeliveryError, SendLimit, read_body
from hubao.bot.events import InboundEvent, OutboundMessage

log = logging.getLogger("hubao.wecom")

CALLBACK_PATH = "/callback/wecom"
RESPONSE_URL_TTL = timedelta(hours=1)
MEMORY = timedelta(hours=2)  # how long used reply handles and parts of half-sent messages are remembered
Step = Callable[[], Awaitable[None]]


class WeComAdapter(Adapter):
    platform = "wecom"
    # A chat's own channel: the group robot, 20 messages a minute (doc 91770). aibot_send_msg has
    # no documented limit; it gets the robot's as the careful choice (``delivery.rates`` overrides).
    send_limit = SendLimit(20, 60.0)
    max_text_bytes = r.TEXT_LIMIT

    @staticmethod
    def channel_of(payload: Mapping[str, Any]) -> str:
        """A reply with a reply channel of its own (``response_url``: one use, 1 h; a WS req_id)
        waits in that channel, not behind the chat's robot messages."""
        if kind := personal.channel_of(payload):  # an application message, in a channel of its own
            return kind
        handle = payload.get("reply_handle") or {}
        once = handle.get("response_url") if handle.get("transport") == "http" else handle.get("req_id")
        return f"reply:{_digest(str(once))[:24]}" if once else ""

    def channel_limit(self, chat_id: str, channel: str) -> SendLimit | None:
        """No rate on a reply channel: it is used once and must not wait past its expiry."""
        if channel.startswith("reply:"):
            return None
        if channel.startswith(personal.CHANNEL_PREFIX):
            return PER_MEMBER_LIMIT
        return SendLimit(self.settings.webhook_rate, 60.0) if self._robot.has(chat_id) else self.send_limit

    def __init__(self, settings: Settings, context: AdapterContext) -> None:
        self.settings = settings
        self.context = context
        self._crypto: WeComCrypto | None = None
        if settings.transport == "http":
            self._crypto = WeComCrypto(settings.token, settings.encoding_aes_key, settings.receive_id)
        self._http: aiohttp.ClientSession | None = None
        self._apps: AppMessenger | None = None
        self._robot = RobotWebhook(
            settings.webhook_keys,
            api_base=settings.api_base,
            rate=settings.webhook_rate,
            clock=context.clock,
            session=self._session,
            timeout=settings.http_timeout,
        )
        self.connection: LongConnection | None = None
        if settings.transport == "ws":
            self.connection = LongConnection(
                url=settings.ws_url,
                bot_id=settings.bot_id,
                secret=settings.secret,
                leases=context.leases,
                session=self._session,
                on_frame=self._on_frame,
                heartbeat_interval=settings.heartbeat_interval,
                reconnect_min=settings.reconnect_min,
                reconnect_max=settings.reconnect_max,
                ack_timeout=settings.ack_timeout,
                kicked_backoff=settings.kicked_backoff,
                lease_ttl=settings.lease_ttl,
            )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._used: dict[str, datetime] = {}  # consumed req_ids / response_urls
        self._delivered: dict[str, datetime] = {}  # parts of a message already on the wire
        self._warned_pings = False
        self.received = 0  # callbacks that verified and decoded (both transports)

    # ---- lifecycle --------------------------------------------------------------------------

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    async def start(self) -> None:
        if self.connection is not None:
            self.connection.start()

    async def stop(self) -> None:
        if self.connection is not None:
            await self.connection.stop()
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=5.0)
            for task in pending:
                task.cancel()
        if self._http is not None:
            await self._http.close()
            self._http = None

    def connection_up(self) -> bool | None:
        """The long connection this instance holds: up or not; None for HTTP or while standing by.

        Only the holder of the lease connects; an instance standing by (another holds it) or
        stopped has no connection of its own to report.
        """
        if self.connection is None or self.connection.state in ("standby", "stopped"):
            return None
        return self.connection.is_online

    async def idle(self) -> None:
        """Wait until the work started by callbacks (dispatches, click replies) is done."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, work: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("wecom: background work failed: %s", exc, exc_info=exc)

    # ---- inbound: HTTP callback -------------------------------------------------------------

    def routes(self) -> Sequence[web.RouteDef]:
        if self._crypto is None:
            return ()
        return (web.get(CALLBACK_PATH, self._verify_url), web.post(CALLBACK_PATH, self._callback))

    def _params(self, request: web.Request) -> tuple[str, str, str] | web.Response:
        query = request.query
        sig, ts, nonce = query.get("msg_signature", ""), query.get("timestamp", ""), query.get("nonce", "")
        if not (sig and ts and nonce):
            return self._refuse(request, 400, "missing query parameters")
        if not (ts.isascii() and ts.isdigit() and len(ts) <= 12):  # int() of 4300+ digits raises
            return self._refuse(request, 403, "stale or bad timestamp")
        if abs(self.context.clock.now().timestamp() - int(ts)) > self.settings.max_clock_skew:
            return self._refuse(request, 403, "stale or bad timestamp")
        return sig, ts, nonce

    @staticmethod
    def _refuse(request: web.Request, status: int, why: str) -> web.Response:
        log.warning("wecom: refused callback from %s: %s", request.remote, why)
        return web.Response(status=status, text=why)

    async def _verify_url(self, request: web.Request) -> web.Response:
        """URL verification: decrypt ``echostr`` and answer its plaintext, bare (doc 101033)."""
        assert self._crypto is not None
        params = self._params(request)
        if isinstance(params, web.Response):
            return params
        echostr = request.query.get("echostr", "").replace(" ", "+")  # a raw '+' reads as a space
        if not echostr:
            return self._refuse(request, 400, "missing echostr")
        try:
            plain = self._crypto.verify_and_decrypt(*params, echostr)
        except CryptoError as exc:
            return self._refuse(request, 403 if _is_auth(exc) else 400, str(exc))
        return web.Response(body=plain.encode(), content_type="text/plain")

    async def _callback(self, request: web.Request) -> web.StreamResponse:
        assert self._crypto is not None
        raw = await read_body(request, self.context.max_body_bytes)
        if raw is None:
            return self._refuse(request, 413, "body too large")
        params = self._params(request)
        if isinstance(params, web.Response):
            return params
        try:
            envelope = json.loads(raw)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return self._refuse(request, 400, "body is not JSON")
        encrypt = envelope.get("encrypt") if isinstance(envelope, dict) else None
        if not isinstance(encrypt, str) or not encrypt:
            return self._refuse(request, 400, "body has no encrypt field")
        try:
            plain = self._crypto.verify_and_decrypt(*params, encrypt)
            body = json.loads(plain)
        except CryptoError as exc:
            return self._refuse(request, 403 if _is_auth(exc) else 400, str(exc))
        except (ValueError, RecursionError):
            return self._refuse(request, 400, "decrypted body is not JSON")
        now = self.context.clock.now()
        handle = {"transport": "http", "at": now.isoformat()}
        response_url = body.get("response_url") if isinstance(body, dict) else None
        if isinstance(response_url, str) and response_url.startswith(self.settings.api_base + "/"):
            handle["response_url"] = response_url
        elif response_url:
            log.warning("wecom: ignoring a response_url outside %s", self.settings.api_base)
        try:
            decoded = decode(body, bot_name=self.settings.bot_name, now=now, handle=handle)
        except PayloadError as exc:
            return self._refuse(request, 400, str(exc))
        self.received += 1
        if decoded.event is None:
            log.debug("wecom: ignored callback (%s)", decoded.reason)
            return web.Response(text="")
        if decoded.kind == "message":
            # Processed before the answer: WeCom never sends again what it got a 200 for.
            result = await self.context.dispatch(decoded.event)
            if not result.recorded:
                return web.Response(status=503, text="not stored; try again")
            return web.Response(text="")
        return await self._click_http(decoded.event)

    async def _click_http(self, event: InboundEvent) -> web.Response:
        """A card click: dispatch inline; the refreshed card goes back in the encrypted passive reply."""
        assert self._crypto is not None
        try:  # durable before the answer, which may come before processing ends
            await self.context.store(event)
        except Exception:
            log.exception("wecom: could not store a card click")
            return web.Response(status=503, text="not stored; try again")
        task = self._spawn(self.context.dispatch(event, inline_replies=True))
        done, _ = await asyncio.wait({task}, timeout=self.settings.card_reply_timeout)
        if not done:  # too slow for the passive reply: everything goes through response_url later
            self._spawn(self._late_replies(task))
            return web.Response(text="")
        if task.exception() is not None:  # logged by _finished; WeCom must not retry into it
            return web.Response(text="")
        result = task.result()
        update = next((m for m in result.replies if m.updates_card), None)
        rest = [m for m in result.replies if m is not update]
        if rest:
            self._spawn(self._send_replies(rest))
        if update is None:
            return web.Response(text="")
        card, _ = r.template_card(update, event.reply_handle.get("task_id") or r.new_task_id(event.button))
        now = self.context.clock.now()
        envelope = self._crypto.reply_envelope(r.card_update_body(card), timestamp=str(int(now.timestamp())))
        return web.json_response(envelope)

    async def _late_replies(self, task: asyncio.Task[Any]) -> None:
        result = await task
        await self._send_replies(result.replies)

    async def _send_replies(self, replies: Sequence[OutboundMessage]) -> None:
        for reply in replies:
            try:
                await self.send(reply)
            except DeliveryError as exc:
                log.warning("wecom: could not deliver a card-click reply: %s", exc)

    # ---- inbound: long connection -----------------------------------------------------------

    def _on_frame(self, frame: dict[str, Any], generation: int) -> None:
        headers = frame.get("headers")
        req_id = headers.get("req_id") if isinstance(headers, dict) else None
        now = self.context.clock.now()
        handle = {"transport": "ws", "at": now.isoformat(), "conn": self._conn_id(generation)}
        if isinstance(req_id, str) and req_id:
            handle["req_id"] = req_id
        try:
            decoded = decode(frame.get("body"), bot_name=self.settings.bot_name, now=now, handle=handle)
        except PayloadError as exc:
            log.warning("wecom: dropped a %s frame: %s", frame.get("cmd"), exc)
            return
        self.received += 1
        if decoded.event is None:
            log.debug("wecom: ignored frame (%s)", decoded.reason)
            return
        # No acknowledgement exists on this connection: the next step is the one insert that
        # makes the event durable; processing follows it.
        if decoded.kind == "message":
            self._spawn(self.context.receive(decoded.event))
        else:
            self._spawn(self._click_ws(decoded.event))

    def _conn_id(self, generation: int) -> str:
        """Which connection a req_id belongs to: this instance's n-th authenticated connection."""
        return f"{self.context.instance_id}:{generation}"

    async def _click_ws(self, event: InboundEvent) -> None:
        await self.context.store(event)
        result = await self.context.dispatch(event, inline_replies=True)
        await self._send_replies(result.replies)

    # ---- outbound ---------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> None:
        if personal.kind_of(message.reply_handle):
            await self._send_app_message(message)
            return
        self._forget_old()
        message = message.without_buttons("survey")  # 15 score buttons exceed a card: answered by text here
        if message.updates_card and await self._update_card(message):
            return
        steps = self._plan(message)
        if len(steps) == 1:  # nothing of it can have gone out before: no parts to remember
            kind, step = steps[0]
            if kind == "robot":
                self._robot.reserve(message.chat_id, 1)
            await step()
            return
        key = hashlib.sha256(json.dumps(message.to_json(), sort_keys=True).encode()).hexdigest()[:24]
        waiting = [i for i, (kind, _) in enumerate(steps) if kind == "robot" and f"{key}:{i}" not in self._delivered]
        if waiting:
            self._robot.reserve(message.chat_id, len(waiting))
        marks = [f"{key}:{index}" for index in range(len(steps))]
        for mark, (_kind, step) in zip(marks, steps, strict=True):
            if mark in self._delivered:
                continue  # a retry after a partial failure: this part already reached WeCom
            await step()
            self._delivered[mark] = self.context.clock.now()
        for mark in marks:  # all delivered: an identical message later is a new message
            self._delivered.pop(mark, None)

    async def _send_app_message(self, message: OutboundMessage) -> None:
        s = self.settings
        if not (s.app_corp_id and s.app_agent_id and s.app_secret):
            raise DeliveryError("wecom: application message without app_corp_id/app_agent_id/app_secret",
                                retryable=False)  # fmt: skip
        if self._apps is None:
            self._apps = AppMessenger(s.api_base, s.app_corp_id, s.app_agent_id, s.app_secret, self.context.clock,
                                      self._session, s.http_timeout)  # fmt: skip
        people = personal.native_ids(message)
        invalid = await self._apps.send(people, message.text)
        if invalid:
            log.warning("wecom: application message did not reach %d of %d people", len(invalid), len(people))

    def _plan(self, message: OutboundMessage) -> list[tuple[str, Step]]:
        chat = message.chat_id
        robot = self._robot.has(chat)
        pings = bool(r.mention_list(message))
        reply = self._reply_channel(message) is not None
        aibot = reply or self.connection is not None
        if pings and not robot and not self._warned_pings:
            self._warned_pings = True
            log.warning("wecom: no group robot for chat %s; @-mentions are written inline, not pinged", chat)

        def via_aibot(body: dict[str, Any]) -> tuple[str, Step]:
            return "aibot", lambda: self._aibot(message, body)

        def via_robot(body: dict[str, Any]) -> tuple[str, Step]:
            return "robot", lambda: self._robot.send(chat, body)

        ping = via_robot(r.robot_text(r.ping_text(message), r.mention_list(message))) if pings and robot else None
        if message.buttons and aibot:
            card, overflow = r.template_card(message, r.new_task_id(message.buttons[0]))
            long_text = r.split_utf8(overflow, r.MARKDOWN_LIMIT) if overflow else []
            steps = [via_aibot(r.markdown_body(piece)) for piece in long_text]
            steps.append(via_aibot(r.card_body(card)))
            if ping:
                steps.append(ping)
            elif pings:
                steps.append(via_aibot(r.markdown_body(r.inline_mentions(message))))
            return steps
        if robot and not reply and (pings or self.connection is None):
            return [via_robot(body) for body in r.robot_bodies(message)]
        if aibot:
            pieces = r.aibot_markdown_pieces(message, with_mentions=pings and not robot)
            steps = [via_aibot(r.markdown_body(p)) for p in pieces]
            return [*steps, ping] if ping else steps
        raise DeliveryError(
            f"no way to post to chat {chat}: the HTTP AI bot can only answer messages; "
            "configure wecom.webhook_keys for proactive messages",
            retryable=False,
        )

    def _reply_channel(self, message: OutboundMessage) -> str | None:
        handle = message.reply_handle
        if message.chat_id != handle.get("chat_id", message.chat_id):
            return None
        at = _when(handle.get("at"))
        if at is None:
            return None
        age = (self.context.clock.now() - at).total_seconds()
        transport = handle.get("transport")
        req_id, url = handle.get("req_id"), handle.get("response_url")
        if (
            transport == "ws"
            and req_id
            and "task_id" not in handle  # a card click's req_id only takes aibot_respond_update_msg
            and self.connection is not None
            and handle.get("conn") == self._conn_id(self.connection.generation)
            and self.connection.is_online
            and age <= self.settings.reply_window
            and f"req:{req_id}" not in self._used
        ):
            return "ws"
        if (
            transport == "http"
            and url
            and age <= RESPONSE_URL_TTL.total_seconds()
            and f"url:{_digest(url)}" not in self._used
        ):
            return "http"
        return None

    async def _aibot(self, message: OutboundMessage, body: dict[str, Any]) -> None:
        """One AI-bot body: through the reply channel while it lasts, else proactively."""
        channel = self._reply_channel(message)
        handle = message.reply_handle
        if channel == "ws" and self.connection is not None:
            req_id = handle["req_id"]
            self._used[f"req:{req_id}"] = self.context.clock.now()
            wire = body if body["msgtype"] == "template_card" else r.stream_body(body["markdown"]["content"])
            try:
                await self.connection.request(RESPOND, wire, req_id=req_id)
                return
            except (FrameError, NotConnected, TimeoutError) as exc:
                log.info("wecom: reply via req_id failed (%s); sending instead", _why(exc))
        elif channel == "http":
            url = handle["response_url"]
            self._used[f"url:{_digest(url)}"] = self.context.clock.now()
            try:
                answer = await post_json(
                    self._session(), url, body, what="response_url", limit=self.settings.http_timeout
                )
                if answer.get("errcode", 0) == 0:
                    return
                log.info("wecom: response_url refused (errcode %s); sending instead", answer.get("errcode"))
            except DeliveryError as exc:
                log.info("wecom: response_url failed (%s); sending instead", exc)
        await self._proactive(message, body)

    async def _proactive(self, message: OutboundMessage, body: dict[str, Any]) -> None:
        chat = message.chat_id
        if self.connection is not None and self.connection.is_online:
            try:
                await self.connection.request(SEND, {"chatid": chat, **body})
                return
            except FrameError as exc:
                raise classify(exc.errcode, exc.errmsg, "aibot_send_msg") from None
            except (NotConnected, TimeoutError) as exc:
                raise DeliveryError(
                    f"aibot_send_msg: {_why(exc)}", retryable=True, retry_after=self.settings.reconnect_max
                ) from None
        if self._robot.has(chat):
            self._robot.reserve(chat, 1)
            await self._robot.send(chat, _as_robot(body))
            return
        if self.connection is not None:
            raise DeliveryError(
                f"long connection is {self.connection.state}",
                retryable=True,
                retry_after=max(self.settings.lease_ttl, self.settings.reconnect_max),
            )
        raise DeliveryError(
            f"reply channel of chat {chat} is used up or expired and no group robot is configured", retryable=False
        )

    async def _update_card(self, message: OutboundMessage) -> bool:
        """Replace the clicked card in place; False when that is no longer possible (caller posts anew)."""
        handle = message.reply_handle
        task_id = handle.get("task_id")
        at = _when(handle.get("at"))
        if not task_id or at is None:
            return False
        age = (self.context.clock.now() - at).total_seconds()
        card, _ = r.template_card(message, task_id)
        if handle.get("transport") == "ws" and (req_id := handle.get("req_id")) and self.connection is not None:
            current = self._conn_id(self.connection.generation)
            if age > self.settings.card_update_window or handle.get("conn") != current:
                return False
            if f"upd:{req_id}" in self._used:
                return False
            self._used[f"upd:{req_id}"] = self.context.clock.now()
            try:
                await self.connection.request(RESPOND_UPDATE, r.card_update_body(card), req_id=req_id)
                return True
            except (FrameError, NotConnected, TimeoutError) as exc:
                log.info("wecom: card update failed (%s); posting a new card", _why(exc))
                return False
        if handle.get("transport") == "http" and self._reply_channel(message) == "http":
            url = handle["response_url"]
            self._used[f"url:{_digest(url)}"] = self.context.clock.now()
            try:
                answer = await post_json(
                    self._session(),
                    url,
                    r.card_update_body(card),
                    what="response_url",
                    limit=self.settings.http_timeout,
                )
            except DeliveryError as exc:
                log.info("wecom: card update via response_url failed (%s)", exc)
                return False
            return answer.get("errcode", 0) == 0
        return False

    def _forget_old(self) -> None:
        """Drop entries past ``MEMORY`` from the front: they are added in time order, so a send
        costs the entries that expired since the last one, not a walk over all of them."""
        cutoff = self.context.clock.now() - MEMORY
        for store in (self._used, self._delivered):
            while store:
                oldest = next(iter(store))
                if store[oldest] >= cutoff:
                    break
                del store[oldest]

    # ---- doctor -----------------------------------------------------------------------------

    async def check(self) -> list[str]:
        s = self.settings
        problems = [f"wecom.{key} is empty" for key in s.missing_keys()]
        if s.transport == "http":
            try:
                WeComCrypto(s.token or "-", s.encoding_aes_key, s.receive_id)
            except ValueError as exc:
                problems.append(f"wecom.encoding_aes_key: {exc}")
            if not self.context.public_url:
                problems.append(f"server.public_url is empty: WeCom cannot reach {CALLBACK_PATH}")
            if not s.webhook_keys:
                problems.append(
                    "no group robot in wecom.webhook_keys: over the HTTP callback the AI bot can only answer "
                    "messages, so escalations and digests cannot reach any group"
                )
        elif not problems and self.connection is not None and not self.connection.is_online:
            name = self.connection.lease_name
            if await self.context.leases.try_acquire(name, timedelta(seconds=s.lease_ttl)):
                try:
                    problem = await probe(self._session(), s.ws_url, s.bot_id, s.secret, limit=s.ack_timeout * 2)
                finally:
                    await self.context.leases.release(name)
                if problem:
                    problems.append(problem)
            # else: a running instance holds the connection, which proves the credentials.
        for chat in self._robot.chats:
            if problem := await self._robot.probe(chat):
                problems.append(problem)
        if self._http is not None and self.connection is None:
            await self._http.close()
            self._http = None
        return problems


def _as_robot(body: dict[str, Any]) -> dict[str, Any]:
    """An AI-bot body for the group robot (no interactive cards there: buttons become commands)."""
    if body.get("msgtype") == "template_card":
        card = body["template_card"]
        lines = [card.get("main_title", {}).get("title", ""), card.get("sub_title_text", "")]
        hint = " · ".join(f"`{_command_of(b['key'])}`" for b in card.get("button_list", []))
        return r.robot_markdown("\n".join(line for line in [*lines, hint] if line))
    return r.robot_markdown(body["markdown"]["content"])


def _command_of(key: str) -> str:
    return parse_button_key(key).command


def _is_auth(exc: CryptoError) -> bool:
    return str(exc) in ("bad signature", "wrong receive-id")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:24]


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _why(exc: Exception) -> str:
    return str(exc) if isinstance(exc, FrameError | NotConnected) else type(exc).__name__


__all__ = ["CALLBACK_PATH", "WeComAdapter"]
