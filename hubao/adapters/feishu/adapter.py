"""The Feishu adapter: verify and decode callbacks or long-connection frames, send via im/v1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp import web

from hubao.adapters.feishu import crypto
from hubao.adapters.feishu.api import FeishuApi
from hubao.adapters.feishu.decode import (
    CARD_EVENT,
    MESSAGE_EVENTS,
    PLATFORM,
    URL_VERIFICATION,
    BotIdentity,
    DecodeError,
    decode_card_action,
    decode_message,
    event_token,
    event_type,
)
from hubao.adapters.feishu.longconn import LongConnection
from hubao.adapters.feishu.render import TooLarge, card, card_answer, render
from hubao.adapters.feishu.settings import Settings
from hubao.bot import personal
from hubao.bot.adapter import Adapter, AdapterContext, DeliveryError, SendLimit, read_body
from hubao.bot.events import InboundEvent, OutboundMessage, User
from hubao.bot.i18n import Catalog

log = logging.getLogger(__name__)
_OK_BODY = b'{"msg": "ok"}'  # every accepted event gets the same answer; encoded once

CALLBACK_PATH = "/callback/feishu"
NAME_CACHE_SIZE = 10_000
BOT_INFO_RETRY = 60.0  # seconds between attempts to learn the bot's open_id
UUID_MAX = 50  # Feishu's limit on the im/v1 idempotency key


class Rejected(Exception):
    """A callback we refuse: answered with ``status``; ``reason`` is safe to log (no secrets)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def idempotency_key(message: OutboundMessage) -> str:
    """The im/v1 ``uuid``: the outbox's key when it gives one, else a hash of the message.

    Either way a retry of the same message reuses it, so Feishu never posts it twice.
    """
    # A key the message carries itself wins: a personal message finds its ping by it (bot/personal.py).
    given = str(message.reply_handle.get("idempotency_key", "") or getattr(message, "idempotency_key", ""))
    if given and len(given) <= UUID_MAX:
        return given
    source = given or json.dumps(message.to_json(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(source.encode()).hexdigest()[:32]


class FeishuAdapter(Adapter):
    platform = PLATFORM
    send_limit = SendLimit(5, 1.0)  # 5 messages/s per group, shared by all bots in it
    max_text_bytes = 10_000  # readable messages; hard limits (150 KB text, 30 KB card) checked on render

    # Buzzes wait in channels of their own at the urgent API's limit (50/s; 1000/min per app).
    URGENT_LIMIT = SendLimit(50, 1.0)

    @staticmethod
    def channel_of(payload: Mapping[str, Any]) -> str:
        """A buzz (personal escalation) waits in its own channel, never behind the group's pings."""
        return personal.channel_of(payload)

    def channel_limit(self, chat_id: str, channel: str) -> SendLimit | None:
        return self.URGENT_LIMIT if channel.startswith(personal.CHANNEL_PREFIX) else self.send_limit

    def __init__(self, settings: Settings, context: AdapterContext) -> None:
        self.settings = settings
        self.context = context
        self._session: aiohttp.ClientSession | None = None
        self.api = FeishuApi(settings, context.clock, self._client)
        self.bot = BotIdentity(settings.bot_open_id, settings.bot_name)
        self._bot_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.long_connection: LongConnection | None = None
        self._started = False
        self._names: dict[str, str] = {}
        self._bot_retry_at = 0.0

    # -- plumbing ---------------------------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    def _spawn(self, work: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def idle(self) -> None:
        """Wait until work started after answering a callback is done (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def start(self) -> None:
        self._started = True
        if not self.bot.open_id:
            self._spawn(self._learn_bot_identity())
        if self.settings.transport == "long_connection":
            self.long_connection = LongConnection(self.settings, self.api, self._client, self._ws_event)
            await self.long_connection.start()

    async def stop(self) -> None:
        if self.long_connection is not None:
            await self.long_connection.stop()
            self.long_connection = None
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=5)
            for task in pending:
                task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._started = False

    def connection_up(self) -> bool | None:
        """Long connection: whether it is connected now; None for the HTTP transport."""
        if self.settings.transport != "long_connection":
            return None
        return self.long_connection is not None and self.long_connection.connected.is_set()

    async def _learn_bot_identity(self) -> None:
        """Ask ``bot/v3/info`` for the bot's open_id once (until it succeeds)."""
        if self.bot.open_id:
            return
        async with self._bot_lock:
            if self.bot.open_id or time.monotonic() < self._bot_retry_at:
                return
            self._bot_retry_at = time.monotonic() + BOT_INFO_RETRY
            try:
                open_id = await asyncio.wait_for(self.api.bot_open_id(), timeout=5)
            except (DeliveryError, TimeoutError) as exc:
                log.warning("feishu: cannot learn the bot's open_id (%s); matching bot_name instead", exc)
                return
            if open_id:
                self.bot = BotIdentity(open_id, self.settings.bot_name)

    # -- HTTP event subscription --------------------------------------------------------------

    def routes(self) -> Sequence[web.RouteDef]:
        if self.settings.transport != "http":
            return ()
        return (web.post(CALLBACK_PATH, self.handle_callback),)

    async def _read_body(self, request: web.Request) -> bytes:
        body = await read_body(request, self.context.max_body_bytes)
        if body is None:
            raise Rejected(413, "body too large")
        return body

    def verify(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """Check and open one callback body; raises :class:`Rejected`."""
        settings = self.settings
        timestamp = headers.get("X-Lark-Request-Timestamp", "")
        if timestamp:
            self._check_window(timestamp)
        given = headers.get("X-Lark-Signature", "") if settings.encrypt_key else ""
        signed = bool(given)
        if signed:  # over the raw bytes, before anything parses them
            nonce = headers.get("X-Lark-Request-Nonce", "")
            if not timestamp or not crypto.signature_ok(timestamp, nonce, settings.encrypt_key, body, given):
                raise Rejected(401, "bad signature")
        outer = _json_object(body)
        if settings.encrypt_key:
            encrypted = outer.get("encrypt")
            if not isinstance(encrypted, str):
                raise Rejected(400, "body is not encrypted but an encrypt_key is configured")
            try:
                payload = _json_object(crypto.decrypt(encrypted, settings.encrypt_key))
            except crypto.CryptoError as exc:
                raise Rejected(400, f"cannot decrypt: {exc}") from None
            if not signed and event_type(payload) != URL_VERIFICATION:
                raise Rejected(401, "unsigned event")
        else:
            if "encrypt" in outer:
                raise Rejected(400, "encrypted body but no encrypt_key configured")
            payload = outer
        if not timestamp and event_type(payload) != URL_VERIFICATION:
            # Feishu stamps every event request; without it the window above was never checked.
            raise Rejected(401, "no request timestamp")
        if settings.verification_token:
            token = event_token(payload)
            if token is None or not hmac.compare_digest(token.encode(), settings.verification_token.encode()):
                raise Rejected(401, "bad verification token")
        return payload

    def _check_window(self, timestamp: str) -> None:
        try:
            sent = int(timestamp)
        except ValueError:
            raise Rejected(400, "bad timestamp") from None
        skew = abs(self.context.clock.now().timestamp() - sent)
        if skew > self.settings.timestamp_window:
            raise Rejected(401, f"stale timestamp ({int(skew)}s off)")

    async def handle_callback(self, request: web.Request) -> web.StreamResponse:
        """``POST /callback/feishu``: events and card callbacks (same URL for both)."""
        try:
            payload = self.verify(request.headers, await self._read_body(request))
        except Rejected as exc:
            log.warning("feishu callback rejected from %s: %s", request.remote, exc.reason)
            return web.json_response({"msg": exc.reason}, status=exc.status)
        kind = event_type(payload)
        if kind == URL_VERIFICATION:
            return web.json_response({"challenge": str(payload.get("challenge", ""))})
        if kind == CARD_EVENT:
            return web.json_response(await self.card_click(payload))
        if kind in MESSAGE_EVENTS:
            if not await self.receive_message(payload):
                return web.json_response({"msg": "not stored; try again"}, status=503)
        else:
            log.debug("feishu: ignoring event type %s", kind[:64])
        return web.Response(body=_OK_BODY, content_type="application/json")

    # -- long connection ---------------------------------------------------------------------

    async def _ws_event(self, data: bytes) -> dict[str, Any] | None:
        try:
            payload = _json_object(data)
        except Rejected as exc:
            log.warning("feishu long connection: bad event frame: %s", exc.reason)
            return None
        kind = event_type(payload)
        if kind == CARD_EVENT:
            return await self.card_click(payload)
        if kind in MESSAGE_EVENTS and not await self.receive_message(payload):
            raise ConnectionError("event not stored")  # no answer frame: Feishu sends it again
        return None

    # -- shared processing -------------------------------------------------------------------

    async def receive_message(self, payload: Mapping[str, Any]) -> bool:
        """Decode one ``im.message.receive_v1`` and make it durable before Feishu hears "received".

        With the sender's name at hand the message is processed in one transaction right away;
        a name still to be looked up (network) is fetched after the event is stored (``enrich``).
        False when it could not be stored (Feishu must be answered with an error, to retry).
        """
        if not self.bot.open_id:
            await self._learn_bot_identity()
        try:
            event = decode_message(payload, self.bot, self.context.clock.now())
        except DecodeError as exc:
            log.warning("feishu: malformed message event: %s", exc)
            return True  # nothing to store; a retry would not be better
        if event is None:
            return True
        event = await self._named(event, lookup=False)
        if self._name_unknown(event):
            try:
                await self.context.receive(event)
            except Exception:
                log.exception("feishu: could not store a message event")
                return False
            return True
        return (await self.context.dispatch(event)).recorded

    def _name_unknown(self, event: InboundEvent) -> bool:
        return self.settings.resolve_names and not event.sender.name and event.sender.native_id not in self._names

    async def enrich(self, event: InboundEvent) -> InboundEvent:
        return await self._named(event, lookup=True)

    async def card_click(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Run a button click as its command; answer within 3 s with a toast and the new card."""
        try:
            event = decode_card_action(payload, self.context.clock.now())
        except DecodeError as exc:
            log.warning("feishu: malformed card callback: %s", exc)
            return {}
        if event is None:
            return {}
        event = await self._named(event, lookup=False)  # no network inside the 3 s window
        try:  # durable first: the answer may come before processing ends
            await self.context.store(event)
        except Exception:
            log.exception("feishu: could not store a card click")
            return {"toast": {"type": "error", "content": Catalog(self.context.locale)("card.failed")}}
        task = self._spawn(self.context.dispatch(event, inline_replies=True))
        try:
            result = await asyncio.wait_for(asyncio.shield(task), timeout=self.settings.card_reply_timeout)
        except TimeoutError:
            self._spawn(self._finish_late_click(task, event))
            return {"toast": {"type": "info", "content": Catalog(self.context.locale)("card.processing")}}
        except Exception:
            log.exception("feishu: card click failed")
            return {"toast": {"type": "error", "content": Catalog(self.context.locale)("card.failed")}}
        if result.duplicate:
            return {}
        answer, rest = card_answer(_keyed_by_click(event, result.replies))
        for reply in rest:
            self._spawn(self._send_quietly(reply))
        return answer

    async def _named(self, event: InboundEvent, *, lookup: bool) -> InboundEvent:
        """The event with its sender's display name, from the cache or the contact API."""
        open_id = event.sender.native_id
        if not self.settings.resolve_names or event.sender.name:
            return event
        for mention in event.mentions:  # a name we already hold
            self._names.setdefault(mention.user.native_id, mention.user.name)
        if open_id not in self._names and lookup:
            try:
                name = await asyncio.wait_for(self.api.user_name(open_id), timeout=2)
            except (DeliveryError, TimeoutError) as exc:
                log.info("feishu: no name for a sender (%s)", str(exc)[:120])
                name = ""
            if len(self._names) >= NAME_CACHE_SIZE:
                self._names.clear()
            self._names[open_id] = name
        name = self._names.get(open_id, "")
        return replace(event, sender=User(event.sender.id, name)) if name else event

    async def _finish_late_click(self, task: asyncio.Task[Any], event: InboundEvent) -> None:
        """The click's answer came after the 3 s window: patch the card, post the rest."""
        try:
            result = await task
        except Exception:
            log.exception("feishu: card click failed")
            return
        for reply in _keyed_by_click(event, result.replies):
            if reply.updates_card and not reply.reply_handle:
                reply = OutboundMessage.from_json({**reply.to_json(), "reply_handle": dict(event.reply_handle)})
            await self._send_quietly(reply)

    async def _send_quietly(self, message: OutboundMessage) -> None:
        try:
            await self.send(message)
        except DeliveryError as exc:
            log.warning("feishu: reply to a card click not delivered: %s", exc)

    # -- sending ---------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> None:
        if kind := personal.kind_of(message.reply_handle):
            await self._buzz(message, kind)
            return
        try:
            msg_type, content = render(message)
        except TooLarge as exc:
            raise DeliveryError(str(exc), retryable=False) from None
        message_id = message.reply_handle.get("message_id", "")
        if message.updates_card and message_id:
            await self.api.update_card(message_id, json.dumps(card(message), ensure_ascii=False))
            return
        await self.api.send_message(message.chat_id, msg_type, content, idempotency_key(message))

    async def _buzz(self, message: OutboundMessage, kind: str) -> None:
        """消息加急 on the ping this follows. The ping is (re)sent under its own uuid first: Feishu
        answers with the message already posted (no second post within its one-hour uuid window), or
        posts it now if the ping is still waiting, which the ping's own send then finds done."""
        ping = personal.ping_of(message)
        people = personal.native_ids(message)
        if not people:
            return
        try:
            msg_type, content = render(ping)
        except TooLarge as exc:
            raise DeliveryError(str(exc), retryable=False) from None
        message_id = await self.api.send_message(ping.chat_id, msg_type, content, idempotency_key(ping))
        if not message_id:
            raise DeliveryError("urgent: the ping has no message id", retryable=True)
        invalid = await self.api.urgent(message_id, kind, people)
        if invalid:
            log.warning("feishu: urgent_%s could not reach %d of %d people", kind, len(invalid), len(people))

    async def check(self) -> list[str]:
        problems: list[str] = []
        base = self.settings.api_base
        try:
            await self.api.tenant_token(refresh=True)
        except DeliveryError as exc:
            problems.append(f"feishu: cannot get a tenant_access_token from {base}: {exc}")
        else:
            try:
                open_id = await self.api.bot_open_id()
            except DeliveryError as exc:
                problems.append(f"feishu: bot/v3/info failed (is the Bot capability enabled?): {exc}")
            else:
                configured = self.settings.bot_open_id
                if configured and open_id and open_id != configured:
                    problems.append(f"feishu: bot_open_id is {configured} but the app's bot is {open_id}")
        if self.settings.transport == "long_connection":
            try:
                await self.api.ws_endpoint()
            except DeliveryError as exc:
                problems.append(f"feishu: long connection endpoint {self.settings.ws_endpoint_url} refused: {exc}")
        if not self._started and self._session is not None:
            await self._session.close()
            self._session = None
        return problems


def _keyed_by_click(event: InboundEvent, replies: Sequence[OutboundMessage]) -> list[OutboundMessage]:
    """The click's replies, each with a uuid from the click's event_id and its place in the answer.

    Sent directly (not through the outbox), they would otherwise get a hash of their content, and
    Feishu drops a later identical reply (another click, same text) within its uuid window.
    """
    return [
        reply if reply.idempotency_key else replace(reply, idempotency_key=f"{event.message_id}:{index}")
        for index, reply in enumerate(replies)
    ]


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise Rejected(400, "body is not JSON") from None
    if not isinstance(value, dict):
        raise Rejected(400, "body is not a JSON object")
    return value
