"""The Feishu open API over aiohttp: tenant token, im/v1 messages, bot info, ws endpoint.

Errors become :class:`DeliveryError`: retryable for network errors, 5xx and rate limits (HTTP
429 / code 99991400, honouring ``x-ogw-ratelimit-reset``), not retryable for auth and bad requests.
No secret or token is ever put in an error message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from hubao.adapters.feishu.settings import Settings
from hubao.bot.adapter import DeliveryError
from hubao.bot.clock import Clock

log = logging.getLogger(__name__)

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
MESSAGES_PATH = "/open-apis/im/v1/messages"
BOT_INFO_PATH = "/open-apis/bot/v3/info"
USERS_PATH = "/open-apis/contact/v3/users"
RATE_LIMITED = 99991400
# Codes meaning "this tenant_access_token is missing, invalid or expired": fetch a new one.
TOKEN_INVALID = frozenset({99991661, 99991663, 99991664, 99991668})
# Transient codes: frequency limits (99991400, im 230020), system busy (1), internal error.
TRANSIENT = frozenset({RATE_LIMITED, 230020, 1, 1000040343})
# Refresh this long before the token's stated expiry (Feishu issues a new one in the last 30 min).
TOKEN_MARGIN = timedelta(minutes=5)


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    for name in ("x-ogw-ratelimit-reset", "Retry-After"):
        value = response.headers.get(name)
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return None


class FeishuApi:
    def __init__(self, settings: Settings, clock: Clock, session: Callable[[], aiohttp.ClientSession]) -> None:
        self._settings = settings
        self._clock = clock
        self._session = session
        self._token = ""
        self._token_expires = datetime.min.replace(tzinfo=clock.now().tzinfo)
        self._token_lock = asyncio.Lock()

    def _url(self, path: str) -> str:
        return self._settings.api_base.rstrip("/") + path

    async def _call(
        self, method: str, url: str, *, what: str, json: Any = None, params: Any = None, token: str = ""
    ) -> dict[str, Any]:
        """One request; returns the JSON body with code 0, raises DeliveryError otherwise."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        timeout = aiohttp.ClientTimeout(total=self._settings.http_timeout)
        try:
            async with self._session().request(
                method, url, json=json, params=params, headers=headers, timeout=timeout
            ) as response:
                try:
                    body = await response.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError):
                    body = None
                status, retry_after = response.status, _retry_after(response)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"{what}: network error {type(exc).__name__}", retryable=True) from None
        code = body.get("code") if isinstance(body, dict) else None
        msg = str(body.get("msg", ""))[:200] if isinstance(body, dict) else ""
        if status == 200 and code == 0:
            return body  # type: ignore[return-value]
        detail = f"{what}: HTTP {status} code {code} {msg}".strip()
        if status == 429 or code == RATE_LIMITED:
            raise DeliveryError(detail, retryable=True, retry_after=retry_after if retry_after else 1.0)
        if code in TOKEN_INVALID:
            raise TokenInvalid(detail)
        if status >= 500 or code in TRANSIENT:
            raise DeliveryError(detail, retryable=True, retry_after=retry_after)
        raise DeliveryError(detail, retryable=False)

    async def tenant_token(self, *, refresh: bool = False) -> str:
        async with self._token_lock:
            now = self._clock.now()
            if self._token and not refresh and now < self._token_expires:
                return self._token
            body = await self._call(
                "POST",
                self._url(TOKEN_PATH),
                what="tenant_access_token",
                json={"app_id": self._settings.app_id, "app_secret": self._settings.app_secret},
            )
            token = body.get("tenant_access_token")
            if not isinstance(token, str) or not token:
                raise DeliveryError("tenant_access_token: no token in answer", retryable=True)
            expire = body.get("expire", 7200)
            lifetime = timedelta(seconds=expire if isinstance(expire, int) and expire > 0 else 7200)
            self._token = token
            self._token_expires = now + max(lifetime - TOKEN_MARGIN, lifetime / 2)
            return token

    def forget_token(self) -> None:
        self._token = ""

    async def authed(
        self, method: str, path: str, *, what: str, json: Any = None, params: Any = None
    ) -> dict[str, Any]:
        """A call with the tenant token; a token-invalid answer refetches it and retries once."""
        for attempt in (1, 2):
            token = await self.tenant_token(refresh=attempt == 2)
            try:
                return await self._call(method, self._url(path), what=what, json=json, params=params, token=token)
            except TokenInvalid as exc:
                log.info("feishu: %s; fetching a new tenant token", exc)
                self.forget_token()
                if attempt == 2:
                    raise DeliveryError(str(exc), retryable=True) from None
        raise AssertionError("unreachable")

    async def send_message(self, chat_id: str, msg_type: str, content: str, uuid: str) -> str:
        body = await self.authed(
            "POST",
            MESSAGES_PATH,
            what="im/v1/messages",
            params={"receive_id_type": "chat_id"},
            json={"receive_id": chat_id, "msg_type": msg_type, "content": content, "uuid": uuid},
        )
        data = body.get("data")
        return str(data.get("message_id", "")) if isinstance(data, dict) else ""

    async def update_card(self, message_id: str, content: str) -> None:
        """Replace the card of a message the bot sent (``PATCH im/v1/messages/{id}``)."""
        await self.authed("PATCH", f"{MESSAGES_PATH}/{message_id}", what="update card", json={"content": content})

    async def urgent(self, message_id: str, kind: str, open_ids: list[str]) -> list[str]:
        """Buzz (加急) a message the bot sent: ``PATCH im/v1/messages/{id}/urgent_{app|sms|phone}``;
        returns the ids Feishu could not buzz (``invalid_user_id_list``)."""
        body = await self.authed(
            "PATCH",
            f"{MESSAGES_PATH}/{message_id}/urgent_{kind}",
            what=f"urgent_{kind}",
            params={"user_id_type": "open_id"},
            json={"user_id_list": open_ids},
        )
        data = body.get("data")
        invalid = data.get("invalid_user_id_list") if isinstance(data, dict) else None
        return [str(i) for i in invalid] if isinstance(invalid, list) else []

    async def bot_open_id(self) -> str:
        body = await self.authed("GET", BOT_INFO_PATH, what="bot/v3/info")
        bot = body.get("bot")
        return str(bot.get("open_id", "")) if isinstance(bot, dict) else ""

    async def user_name(self, open_id: str) -> str:
        """A user's display name (needs the contact:user.base:readonly scope)."""
        body = await self.authed(
            "GET", f"{USERS_PATH}/{open_id}", what="contact/v3/users", params={"user_id_type": "open_id"}
        )
        data = body.get("data")
        user = data.get("user") if isinstance(data, dict) else None
        return str(user.get("name", "")) if isinstance(user, dict) else ""

    async def ws_endpoint(self) -> dict[str, Any]:
        """``POST /callback/ws/endpoint``: the long connection's URL and client config."""
        url = self._settings.ws_endpoint_url
        payload = {"AppID": self._settings.app_id, "AppSecret": self._settings.app_secret}
        body = await self._call("POST", url, what="ws endpoint", json=payload)
        data = body.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("URL"), str):
            raise DeliveryError("ws endpoint: no URL in answer", retryable=True)
        return data


class TokenInvalid(DeliveryError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail, retryable=True)
