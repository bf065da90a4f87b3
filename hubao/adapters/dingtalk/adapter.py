"""The DingTalk adapter: internal-app robot over HTTP callback or Stream, cards, custom robots."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from hubao.bot import personal
from hubao.bot.adapter import Adapter, AdapterContext, DeliveryError, SendLimit, read_body
from hubao.bot.events import InboundEvent, OutboundMessage

from . import render
from .api import DingTalkApi, redact
from .decode import PayloadError, decode_card_click, decode_message, encode_track_id
from .settings import Settings
from .signing import SignatureError, verify_callback
from .stream import TOPIC_BOT_MESSAGE, TOPIC_CARD_CALLBACK, StreamClient

log = logging.getLogger(__name__)

CALLBACK_PATH = "/callback/dingtalk"
CARD_CALLBACK_PATH = "/callback/dingtalk/card/{token}"


class DingTalkAdapter(Adapter):
    platform = "dingtalk"
    # Custom robots: 20 messages a minute, exceeding it blocks the robot for 10 minutes.
    send_limit = SendLimit(20, 60.0)
    # Text messages are limited to 20000 characters (UTF-8 worst case 3 bytes each);
    # stay well below that and below the markdown limit (5000 characters, UNCONFIRMED).
    max_text_bytes = 4000

    # One-to-one robot messages: at most 20 users a call; the API's rate is not published
    # (UNCONFIRMED), so personal messages go at most 20 a second, in a channel of their own.
    PERSONAL_LIMIT = SendLimit(20, 1.0)
    PERSONAL_BATCH = 20
    WORK_NOTICE_BATCH = 100  # userid_list of asyncsend_v2

    @staticmethod
    def channel_of(payload: Mapping[str, Any]) -> str:
        """A personal message waits in its own channel, never behind the group's messages."""
        return personal.channel_of(payload)

    def channel_limit(self, chat_id: str, channel: str) -> SendLimit | None:
        return self.PERSONAL_LIMIT if channel.startswith(personal.CHANNEL_PREFIX) else self.send_limit

    def __init__(self, settings: Settings, context: AdapterContext) -> None:
        self.settings = settings
        self.context = context
        self._session: aiohttp.ClientSession | None = None
        self._api: DingTalkApi | None = None
        self._stream: StreamClient | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ---- plumbing ----------------------------------------------------------------------

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._api = None
        return self._session

    @property
    def api(self) -> DingTalkApi:
        session = self.session
        if self._api is None:
            self._api = DingTalkApi(self.settings, self.context.clock, session)
        return self._api

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, grace: float = 2.0) -> None:
        """Wait for in-flight processing (used on stop and by tests); cancel what is left."""
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace)
            for task in still:
                task.cancel()
            if still:
                await asyncio.gather(*still, return_exceptions=True)

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self.settings.transport == "stream":
            self._stream = StreamClient(
                gateway_url=self.settings.gateway_url,
                client_id=self.settings.client_id,
                client_secret=self.settings.client_secret,
                session=self.session,
                on_callback=self._on_stream_callback,
                ping_interval=self.settings.ping_interval,
                keepalive=self.settings.keepalive,
                reconnect_min=self.settings.reconnect_min,
                reconnect_max=self.settings.reconnect_max,
                request_timeout=self.settings.request_timeout,
            )
            self._stream.start()
        elif self.settings.card_template_id and self.context.public_url:
            # HTTP card clicks go to a URL registered under callbackRouteKey; do it in the
            # background so start-up never waits on DingTalk.
            self._spawn(self._register_card_callback(), "dingtalk-card-register")

    async def stop(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        await self.drain()
        if self._session is not None:
            await self._session.close()
            self._session = None
            self._api = None

    def connection_up(self) -> bool | None:
        """Stream: whether the WebSocket is open now; None for the HTTP transport."""
        if self.settings.transport != "stream":
            return None
        return self._stream is not None and self._stream.connected.is_set()

    async def _register_card_callback(self) -> None:
        url = f"{self.context.public_url.rstrip('/')}{CALLBACK_PATH}/card/{self.settings.card_callback_token}"
        body = {
            "callbackRouteKey": self.settings.card_callback_route_key,
            "callbackUrl": url,
            "apiSecret": self.settings.card_callback_token,
            "forceUpdate": True,
        }
        try:
            await self.api.openapi("POST", "/v1.0/card/callbacks/register", body, what="card callback register")
            log.info("dingtalk card callback registered at %s", redact(url).rsplit("/", 1)[0] + "/…")
        except DeliveryError as exc:
            log.error("dingtalk: registering the card callback failed: %s", exc)

    # ---- inbound: Stream ---------------------------------------------------------------

    async def _on_stream_callback(self, topic: str, data: Any, delivery_id: str) -> None:
        """Called before the frame is ACKed: decode, store (one insert); processing follows.

        Raises when the event could not be stored, so the frame is not ACKed and DingTalk
        delivers it again."""
        now = self.context.clock.now()
        try:
            if topic == TOPIC_BOT_MESSAGE:
                event = decode_message(data, now)
            elif topic == TOPIC_CARD_CALLBACK:
                event = decode_card_click(data, now, delivery_id)
            else:
                log.warning("dingtalk stream: callback on unknown topic %s", topic)
                return
        except PayloadError as exc:
            log.warning("dingtalk stream: %s frame %s dropped: %s", topic, delivery_id, exc)
            return
        if event is not None:
            await self.context.receive(event)

    # ---- inbound: HTTP -----------------------------------------------------------------

    def routes(self) -> Sequence[web.RouteDef]:
        routes = [web.post(CALLBACK_PATH, self._http_message)]
        if self.settings.card_callback_token:
            routes.append(web.post(CARD_CALLBACK_PATH, self._http_card))
        return routes

    async def _read_json(self, request: web.Request) -> Any:
        limit = self.context.max_body_bytes
        body = await read_body(request, limit)
        if body is None:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length or limit + 1)
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise web.HTTPBadRequest(text="malformed body") from exc

    async def _answer_after(self, event: InboundEvent) -> web.Response:
        """Process, then answer: DingTalk never sends again what it got a 200 for."""
        result = await self.context.dispatch(event)
        if result.duplicate:
            log.info("dingtalk: duplicate delivery %s ignored", event.message_id)
        if not result.recorded:  # nothing was stored: a 5xx lets DingTalk deliver it again
            return web.json_response({"error": "not stored"}, status=503)
        return web.json_response({})

    async def _http_message(self, request: web.Request) -> web.Response:
        try:
            verify_callback(
                self.settings.client_secret,
                request.headers.get("timestamp"),
                request.headers.get("sign"),
                self.context.clock.now(),
                self.settings.signature_window,
            )
        except SignatureError as exc:
            log.warning("dingtalk callback rejected from %s: %s", request.remote, exc)
            raise web.HTTPForbidden(text="bad signature") from exc
        payload = await self._read_json(request)
        try:
            event = decode_message(payload, self.context.clock.now())
        except PayloadError as exc:
            log.warning("dingtalk callback with unusable body: %s", exc)
            raise web.HTTPBadRequest(text="unusable body") from exc
        if event is None:
            return web.json_response({})
        return await self._answer_after(event)

    async def _http_card(self, request: web.Request) -> web.Response:
        token = request.match_info.get("token", "")
        expected = self.settings.card_callback_token
        if not expected or not secrets.compare_digest(token.encode(), expected.encode()):
            log.warning("dingtalk card callback with a wrong path token from %s", request.remote)
            raise web.HTTPForbidden(text="bad token")
        payload = await self._read_json(request)
        try:
            event = decode_card_click(payload, self.context.clock.now())
        except PayloadError as exc:
            log.warning("dingtalk card callback with unusable body: %s", exc)
            raise web.HTTPBadRequest(text="unusable body") from exc
        return await self._answer_after(event)

    # ---- outbound ----------------------------------------------------------------------

    def _session_webhook(self, message: OutboundMessage) -> str | None:
        handle = message.reply_handle
        url = handle.get("session_webhook")
        if not url:
            return None
        try:
            expires = datetime.fromtimestamp(int(handle.get("session_webhook_expires", "0")) / 1000, tz=UTC)
        except (ValueError, OverflowError, OSError):
            return None
        if self.context.clock.now() + timedelta(seconds=self.settings.session_margin) >= expires:
            return None
        return url

    async def send(self, message: OutboundMessage) -> None:
        if kind := personal.kind_of(message.reply_handle):
            await self._send_personal(message, kind)
            return
        message = message.without_buttons("survey")  # the card template has no score buttons: answered by text
        if len(message.text.encode("utf-8")) > self.max_text_bytes * 5:
            raise DeliveryError("message far over the size limit; not split upstream", retryable=False)
        track_id = message.reply_handle.get("out_track_id")
        if message.updates_card and track_id and self.settings.card_template_id:
            await self._update_card(track_id, message)
            return
        if message.buttons and self.settings.card_template_id:
            await self._send_card(message)
            return
        needs_ping = bool(message.mentions) or message.mention_all
        session_url = self._session_webhook(message)
        if session_url:
            try:
                await self.api.post_webhook(session_url, render.webhook_body(message), what="session webhook")
                return
            except DeliveryError as exc:
                if exc.retryable:
                    raise
                log.warning("dingtalk session webhook refused (%s); sending proactively", exc)
        robot = self.settings.custom_robot_for(message.chat_id) if needs_ping else None
        if robot is not None:
            await self.api.post_custom_robot(robot, render.webhook_body(message))
            return
        if needs_ping:
            log.warning("dingtalk: no custom robot for %s; @ pings go out as plain text", message.chat_id)
        body = render.openapi_body(message, self.settings.effective_robot_code, message.chat_id)
        await self.api.openapi("POST", "/v1.0/robot/groupMessages/send", body, what="group message")

    async def _send_personal(self, message: OutboundMessage, kind: str) -> None:
        """The pinged people, one to one: the app robot's batchSend or a work notification."""
        people = personal.native_ids(message)
        text = message.text[: self.max_text_bytes]
        if kind == "work_notice":
            for start in range(0, len(people), self.WORK_NOTICE_BATCH):
                body = {
                    "agent_id": self.settings.agent_id,
                    "userid_list": ",".join(people[start : start + self.WORK_NOTICE_BATCH]),
                    "msg": {"msgtype": "text", "text": {"content": text}},
                }
                await self.api.legacy("/topapi/message/corpconversation/asyncsend_v2", body, what="work notice")
            return
        for start in range(0, len(people), self.PERSONAL_BATCH):
            body = {
                "robotCode": self.settings.effective_robot_code,
                "userIds": people[start : start + self.PERSONAL_BATCH],
                "msgKey": "sampleText",
                "msgParam": json.dumps({"content": text}, ensure_ascii=False),
            }
            answer = await self.api.openapi("POST", "/v1.0/robot/oToMessages/batchSend", body, what="oToMessages")
            missed = [*answer.get("invalidStaffIdList", []), *answer.get("flowControlledStaffIdList", [])]
            if missed:
                log.warning("dingtalk: one-to-one message did not reach %d of %d people", len(missed), len(people))

    async def _send_card(self, message: OutboundMessage) -> None:
        risk = message.buttons[0].risk_number
        track_id = encode_track_id(message.chat_id, risk, secrets.token_hex(4))
        deliver_model: dict[str, Any] = {"robotCode": self.settings.effective_robot_code}
        if message.mention_all:
            deliver_model["atUserIds"] = {"@ALL": "@ALL"}
        elif message.mentions:
            deliver_model["atUserIds"] = {u.native_id: u.display for u in message.mentions}
        body: dict[str, Any] = {
            "cardTemplateId": self.settings.card_template_id,
            "outTrackId": track_id,
            "cardData": {"cardParamMap": render.card_params(message)},
            "imGroupOpenSpaceModel": {"supportForward": False},
            "openSpaceId": f"dtv1.card//IM_GROUP.{message.chat_id}",
            "imGroupOpenDeliverModel": deliver_model,
            "userIdType": 1,
        }
        if self.settings.transport == "http":
            body["callbackType"] = "HTTP"
            body["callbackRouteKey"] = self.settings.card_callback_route_key
        else:
            body["callbackType"] = "STREAM"
        await self.api.openapi("POST", "/v1.0/card/instances/createAndDeliver", body, what="card")

    async def _update_card(self, track_id: str, message: OutboundMessage) -> None:
        body = {
            "outTrackId": track_id,
            "cardData": {"cardParamMap": render.card_params(message)},
            "cardUpdateOptions": {"updateCardDataByKey": True},
        }
        await self.api.openapi("PUT", "/v1.0/card/instances", body, what="card update")

    # ---- doctor ------------------------------------------------------------------------

    async def check(self) -> list[str]:
        problems: list[str] = []
        try:
            await self.api.access_token(force=True)
        except DeliveryError as exc:
            problems.append(f"dingtalk: cannot get an access token from {self.settings.api_base}: {exc}")
        if self.settings.transport == "stream":
            probe = StreamClient(
                gateway_url=self.settings.gateway_url,
                client_id=self.settings.client_id,
                client_secret=self.settings.client_secret,
                session=self.session,
                on_callback=_ignore,
                request_timeout=self.settings.request_timeout,
            )
            try:
                await probe.open_connection()
            except Exception as exc:
                problems.append(f"dingtalk: Stream gateway {self.settings.gateway_url} refused: {exc}")
        elif not self.context.public_url:
            problems.append("dingtalk: transport 'http' but server.public_url is empty (callback URL unknown)")
        if self.settings.transport == "http" and self.settings.card_template_id and not self.context.public_url:
            problems.append("dingtalk: card clicks over HTTP need server.public_url to register the callback")
        if not self.settings.webhook_url and not self.settings.webhooks:
            problems.append(
                "dingtalk: no custom robot configured: escalation @ pings outside a live reply session "
                "will be plain text (set webhook_url/webhook_secret)"
            )
        for chat, robot in self._custom_robots():
            if not robot.secret:
                problems.append(f"dingtalk: custom robot for {chat or 'the group'} has no secret (加签)")
        return problems

    def _custom_robots(self) -> list[tuple[str, Any]]:
        robots: list[tuple[str, Any]] = []
        if self.settings.webhook_url:
            chat = self.settings.webhook_chat_id
            robots.append((chat, self.settings.custom_robot_for(chat)))
        robots.extend(self.settings.webhooks.items())
        return robots


async def _ignore(topic: str, data: Any, delivery_id: str) -> None:
    return None


def create(settings: Settings, context: AdapterContext) -> DingTalkAdapter:
    return DingTalkAdapter(settings, context)


__all__ = ["DingTalkAdapter", "create"]
