"""What the platforms POST to the bot, built and signed exactly like them, plus a sink and a bare server.

The signing/encryption comes from the platform stand-ins the adapter tests use
(``tests/adapters/<platform>/standin.py``), so the bodies are the ones the tests prove the
adapters accept. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from hubao.bot.clock import SystemClock
from hubao.bot.events import User
from tests.adapters.dingtalk.standin import BOT_DINGTALK_ID, dt_sign
from tests.adapters.feishu.standin import message_event, signed_request
from tests.adapters.wecom.standin import wx_encrypt, wx_signature

PLATFORMS = ("wecom", "dingtalk", "feishu")
HOST = "127.0.0.1"

# One group per platform; its leader sends every command (the leader may /ack and /resolve).
CHATS = {"wecom": "wrBenchGroup", "dingtalk": "cidBenchGroup==", "feishu": "oc_bench_group"}
LEADERS = {
    "wecom": User("wecom:lead", "Lead"),
    "dingtalk": User("dingtalk:lead", "Lead"),
    "feishu": User("feishu:ou_lead", "Lead"),
}
OWNERS = {
    "wecom": User("wecom:bob", "Bob"),
    "dingtalk": User("dingtalk:bob", "Bob"),
    "feishu": User("feishu:ou_bob", "Bob"),
}

# Secrets of the benchmark's platforms (dummy values in the platforms' real formats).
WECOM_TOKEN = "bench-token"
WECOM_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
WECOM_BOT = "RiskBot"
DINGTALK_ID = "dingbenchkey"
DINGTALK_SECRET = "bench dingtalk secret"
FEISHU_APP_ID = "cli_bench"
FEISHU_SECRET = "bench-app-secret"
FEISHU_ENCRYPT_KEY = "bench-encrypt-key"
FEISHU_TOKEN = "bench-verification-token"
FEISHU_BOT_OPEN_ID = "ou_bot"


def platform_settings(platform: str, sink: str, chats: Sequence[str] = ()) -> dict[str, Any]:
    """The ``[<platform>]`` section: HTTP-callback transport, the secrets above, every URL at ``sink``.

    WeCom gets a group robot for each of ``chats``, as a real deployment on the HTTP callback
    needs one for whatever is not a direct answer (the second part of a long board, pings)."""
    if platform == "wecom":
        return {
            "enabled": True,
            "transport": "http",
            "bot_name": WECOM_BOT,
            "token": WECOM_TOKEN,
            "encoding_aes_key": WECOM_AES_KEY,
            "api_base": sink,
            "webhook_keys": {f"bench-robot-{i}": chat for i, chat in enumerate(chats)},
        }
    if platform == "dingtalk":
        return {
            "enabled": True,
            "transport": "http",
            "client_id": DINGTALK_ID,
            "client_secret": DINGTALK_SECRET,
            "api_base": sink,
            "oapi_base": sink,
            "gateway_url": sink + "/v1.0/gateway/connections/open",
        }
    if platform == "feishu":
        return {
            "enabled": True,
            "transport": "http",
            "app_id": FEISHU_APP_ID,
            "app_secret": FEISHU_SECRET,
            "encrypt_key": FEISHU_ENCRYPT_KEY,
            "verification_token": FEISHU_TOKEN,
            "bot_open_id": FEISHU_BOT_OPEN_ID,
            "resolve_names": False,  # no contact-API lookup per sender
            "api_base": sink,
            "ws_endpoint_url": sink + "/callback/ws/endpoint",
        }
    raise ValueError(platform)


def command_text(i: int) -> str:
    """The i-th command of the mix (cycles of four, so the board stays small):

    ``/risk 库存低 <c> @Bob``, ``/ack #<c-20>``, ``/resolve #<c-40>``, ``/list`` — with ``/list``
    standing in for an /ack or /resolve whose risk cannot exist yet. The lag (80/160 requests) is
    larger than the highest concurrency, so the risk nearly always exists when its /ack arrives.
    """
    cycle, slot = divmod(i, 4)
    if slot == 0:
        return f"/risk 库存低 {cycle} @Bob"
    if slot == 1 and cycle >= 20:
        return f"/ack #{cycle - 19}"
    if slot == 2 and cycle >= 40:
        return f"/resolve #{cycle - 39}"
    return "/list"


@dataclass(frozen=True, slots=True)
class Request:
    key: str  # the kernel's dedupe key: "<platform>:<message id>"
    path: str  # with query string
    body: bytes
    headers: dict[str, str]


def chat_of(platform: str, group: int, groups: int) -> str:
    """The chat id of the ``group``-th of ``groups`` benchmark groups (one group: the plain id)."""
    return CHATS[platform] if groups <= 1 else f"{CHATS[platform]}-{group:03d}"


def build(platform: str, text: str, message_id: str, sink: str, chat: str | None = None) -> Request:
    """One signed/encrypted group message carrying ``text`` from the group leader, as the platform sends it."""
    clock = SystemClock()
    if platform == "wecom":
        body = {
            "msgid": message_id,
            "aibotid": "BENCHBOT",
            "chattype": "group",
            "chatid": chat or CHATS["wecom"],
            "from": {"userid": "lead"},
            "response_url": f"{sink}/cgi-bin/aibot/response?response_code={secrets.token_urlsafe(9)}",
            "msgtype": "text",
            "text": {"content": f"@{WECOM_BOT} {text}"},
        }
        encrypt = wx_encrypt(WECOM_AES_KEY, json.dumps(body, ensure_ascii=False), "")
        ts, nonce = str(int(time.time())), secrets.token_hex(5)
        query = f"msg_signature={wx_signature(WECOM_TOKEN, ts, nonce, encrypt)}&timestamp={ts}&nonce={nonce}"
        return Request(
            f"wecom:{message_id}",
            f"/callback/wecom?{query}",
            json.dumps({"encrypt": encrypt}).encode(),
            {"Content-Type": "application/json"},
        )
    if platform == "dingtalk":
        now_ms = int(time.time() * 1000)
        at = [{"dingtalkId": BOT_DINGTALK_ID}]
        if "@Bob" in text:
            at.append({"dingtalkId": "$:bob", "staffId": "bob"})
        payload = {
            "conversationId": chat or CHATS["dingtalk"],
            "atUsers": at,
            "chatbotCorpId": "dingcorp",
            "chatbotUserId": BOT_DINGTALK_ID,
            "msgId": message_id,
            "senderNick": "Lead",
            "isAdmin": False,
            "senderStaffId": "lead",
            "sessionWebhookExpiredTime": now_ms + 90 * 60_000,
            "createAt": now_ms,
            "senderCorpId": "dingcorp",
            "conversationType": "2",
            "senderId": "$:LWCP_v1:$lead",
            "conversationTitle": "互保小组",
            "isInAtList": True,
            "sessionWebhook": f"{sink}/session/{message_id}",
            "text": {"content": " " + text},
            "msgtype": "text",
            "robotCode": DINGTALK_ID,
        }
        ts = str(now_ms)
        headers = {"timestamp": ts, "sign": dt_sign(DINGTALK_SECRET, ts), "Content-Type": "application/json"}
        return Request(
            f"dingtalk:{message_id}",
            "/callback/dingtalk",
            json.dumps(payload, ensure_ascii=False).encode(),
            headers,
        )
    if platform == "feishu":
        mentions = {"@_user_1": (FEISHU_BOT_OPEN_ID, "互保助手")}
        shown = text
        if "@Bob" in text:
            mentions["@_user_2"] = ("ou_bob", "Bob")
            shown = text.replace("@Bob", "@_user_2")
        event = message_event(
            chat or CHATS["feishu"],
            "ou_lead",
            f"@_user_1 {shown}",
            mentions,
            event_id=message_id,
            token=FEISHU_TOKEN,
            create_time_ms=int(time.time() * 1000),
        )
        event["header"]["app_id"] = FEISHU_APP_ID
        body, headers = signed_request(event, clock=clock, encrypt_key=FEISHU_ENCRYPT_KEY)  # type: ignore[arg-type]
        return Request(f"feishu:{message_id}", "/callback/feishu", body, headers)
    raise ValueError(platform)


def requests_for(platform: str, count: int, run: str, sink: str, *, first: int = 0, groups: int = 1) -> list[Request]:
    """``count`` commands of the mix, spread round-robin over ``groups`` groups (each group its own mix)."""
    requests = []
    for i in range(first, first + count):
        local, group = divmod(i, max(groups, 1))
        chat = chat_of(platform, group, groups)
        requests.append(build(platform, command_text(local), f"{run}-{i:07d}", sink, chat))
    return requests


# ---- servers ---------------------------------------------------------------------------------

SINK_ANSWER = {
    # One body that satisfies every platform call the adapters make: Feishu (code, token,
    # data.message_id), DingTalk (errcode, accessToken, processQueryKey), WeCom (errcode).
    "code": 0,
    "msg": "ok",
    "errcode": 0,
    "errmsg": "ok",
    "tenant_access_token": "t-sink",
    "expire": 7200,
    "accessToken": "sink-token",
    "expireIn": 7200,
    "processQueryKey": "sink",
    "data": {"message_id": "om_sink"},
}


def sink_app(counter: dict[str, int]) -> web.Application:
    """A platform API sink: counts what reached it and answers success to everything."""

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        counter["requests"] = counter.get("requests", 0) + 1
        return web.json_response(SINK_ANSWER)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


def bare_app() -> web.Application:
    """The ceiling: an aiohttp handler that reads the same bodies and answers 200."""

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({})

    app = web.Application(client_max_size=1_048_576)
    app.router.add_post("/{tail:.*}", answer)
    return app


def utcnow() -> datetime:
    return datetime.now(UTC)
