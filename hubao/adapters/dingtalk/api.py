"""The HTTP APIs the adapter calls: OpenAPI (api.dingtalk.com, token in a header) and webhooks
(oapi.dingtalk.com style ``{"errcode","errmsg"}`` answers). Every failure becomes a
:class:`DeliveryError` that says whether a retry can help."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from hubao.bot.adapter import DeliveryError
from hubao.bot.clock import Clock

from .settings import CustomRobot, Settings
from .signing import sign_query, timestamp_ms

log = logging.getLogger(__name__)

TOKEN_MARGIN = timedelta(minutes=5)
BLOCK_CODE = 130101  # custom robot: "send too fast, exceed 20 times per minute" → 10 min block
BLOCK_SECONDS = 600.0
_RETRYABLE_ERRCODES = {-1, BLOCK_CODE}  # -1: system busy
_AUTH_CODES = ("InvalidAuthentication", "invalidAuthentication", "Unauthorized")
# Legacy (oapi) answers: 40014 invalid / 42001 expired access_token; 88 / 90018 call-rate limits.
_LEGACY_TOKEN_CODES = (40014, 42001)
_LEGACY_THROTTLED = (88, 90018)
_THROTTLE_MARKERS = ("QpsLimit", "Throttling", "throttl", "LimitExceeded", "Forbidden.AccessDenied.Qps")


def redact(url: str) -> str:
    """Scheme, host and path only: webhook URLs carry tokens in the query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class DingTalkApi:
    def __init__(self, settings: Settings, clock: Clock, session: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.clock = clock
        self.session = session
        self._token: str = ""
        self._token_until: datetime | None = None
        self._token_lock = asyncio.Lock()
        self._legacy_token: str = ""
        self._legacy_until: datetime | None = None
        # custom robot url -> send times in the last minute / blocked-until
        self._sent: dict[str, deque[datetime]] = {}
        self._blocked: dict[str, datetime] = {}

    @property
    def api_base(self) -> str:
        return self.settings.api_base.rstrip("/")

    # ---- access token ------------------------------------------------------------------

    async def access_token(self, *, force: bool = False) -> str:
        async with self._token_lock:
            now = self.clock.now()
            if not force and self._token and self._token_until and now < self._token_until:
                return self._token
            data = await self._request(
                "POST",
                f"{self.api_base}/v1.0/oauth2/accessToken",
                {"appKey": self.settings.client_id, "appSecret": self.settings.client_secret},
                what="access token",
            )
            token, expire = data.get("accessToken"), data.get("expireIn")
            if not isinstance(token, str) or not token:
                raise DeliveryError(f"access token: no accessToken in answer {data!r}"[:300], retryable=True)
            seconds = float(expire) if isinstance(expire, int | float) else 7200.0
            self._token = token
            self._token_until = now + max(timedelta(seconds=seconds) - TOKEN_MARGIN, timedelta(seconds=30))
            return token

    def drop_token(self) -> None:
        self._token, self._token_until = "", None

    async def openapi(self, method: str, path: str, body: dict[str, Any], *, what: str) -> dict[str, Any]:
        """Call ``{api_base}{path}`` with the cached token; refresh once on an auth error."""
        for attempt in (1, 2):
            token = await self.access_token(force=attempt == 2)
            try:
                return await self._request(
                    method, f"{self.api_base}{path}", body, what=what,
                    headers={"x-acs-dingtalk-access-token": token},
                )  # fmt: skip
            except _AuthError:
                self.drop_token()
                if attempt == 2:
                    raise DeliveryError(f"{what}: access token rejected twice", retryable=False) from None
        raise AssertionError("unreachable")

    async def _request(
        self, method: str, url: str, body: dict[str, Any], *, what: str, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=self.settings.request_timeout)
        try:
            async with self.session.request(method, url, json=body, headers=headers, timeout=timeout) as resp:
                status = resp.status
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Only the type: the text of some errors (invalid URL, redirects) holds the URL with its token.
            raise DeliveryError(f"{what}: network error {type(exc).__name__}", retryable=True) from None
        data: dict[str, Any] = {}
        try:
            parsed = json.loads(text) if text else {}
            data = parsed if isinstance(parsed, dict) else {}
        except (ValueError, RecursionError):
            data = {}
        code = str(data.get("code", ""))
        if status == 401 or any(c in code for c in _AUTH_CODES):
            raise _AuthError(f"{what}: {status} {code}")
        if status == 429 or any(m in code for m in _THROTTLE_MARKERS):
            raise DeliveryError(f"{what}: throttled ({status} {code})", retryable=True, retry_after=1.0)
        if status >= 500:
            raise DeliveryError(f"{what}: server error {status} {code}", retryable=True)
        if status >= 400:
            raise DeliveryError(f"{what}: rejected {status} {code} {data.get('message', '')}"[:300], retryable=False)
        return data

    # ---- legacy API (work notifications) ------------------------------------------------

    async def legacy_token(self, *, force: bool = False) -> str:
        """``GET {oapi_base}/gettoken?appkey&appsecret`` (7200 s), cached like the new token."""
        async with self._token_lock:
            now = self.clock.now()
            if not force and self._legacy_token and self._legacy_until and now < self._legacy_until:
                return self._legacy_token
            url = f"{self.settings.oapi_base.rstrip('/')}/gettoken"
            params = {"appkey": self.settings.client_id, "appsecret": self.settings.client_secret}
            data = await self._legacy_call("GET", url, params, None, what="gettoken")
            token = data.get("access_token")
            if not isinstance(token, str) or not token:
                raise DeliveryError("gettoken: no access_token in the answer", retryable=True)
            seconds = float(data.get("expires_in") or 7200)
            self._legacy_token = token
            self._legacy_until = now + max(timedelta(seconds=seconds) - TOKEN_MARGIN, timedelta(seconds=30))
            return token

    async def legacy(self, path: str, body: dict[str, Any], *, what: str) -> dict[str, Any]:
        """POST ``{oapi_base}{path}?access_token=…``; a rejected token is fetched anew once."""
        url = f"{self.settings.oapi_base.rstrip('/')}{path}"
        for attempt in (1, 2):
            token = await self.legacy_token(force=attempt == 2)
            try:
                return await self._legacy_call("POST", url, {"access_token": token}, body, what=what)
            except _AuthError:
                self._legacy_token = ""
                if attempt == 2:
                    raise DeliveryError(f"{what}: access token rejected twice", retryable=False) from None
        raise AssertionError("unreachable")

    async def _legacy_call(
        self, method: str, url: str, params: dict[str, str], body: dict[str, Any] | None, *, what: str
    ) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=self.settings.request_timeout)
        try:
            async with self.session.request(method, url, params=params, json=body, timeout=timeout) as resp:
                status, text = resp.status, await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"{what}: network error {type(exc).__name__}", retryable=True) from None
        try:
            parsed = json.loads(text) if text else {}
        except (ValueError, RecursionError):
            parsed = {}
        data: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        errcode = data.get("errcode", -1 if status >= 500 else 0)
        if status == 200 and errcode in (0, "0"):
            return data
        detail = f"{what}: HTTP {status} errcode {errcode} {str(data.get('errmsg', ''))[:120]}"
        if errcode in _LEGACY_TOKEN_CODES:
            raise _AuthError(detail)
        if errcode in _LEGACY_THROTTLED:
            raise DeliveryError(detail, retryable=True, retry_after=1.0)
        raise DeliveryError(detail, retryable=status >= 500 or errcode in _RETRYABLE_ERRCODES)

    # ---- webhooks (sessionWebhook, custom robot) ---------------------------------------

    async def post_webhook(self, url: str, body: dict[str, Any], *, what: str) -> None:
        data = await self._request("POST", url, body, what=f"{what} {redact(url)}")
        errcode = data.get("errcode", 0)
        if errcode in (0, "0", None):
            return
        errmsg = str(data.get("errmsg", ""))[:200]
        if errcode == BLOCK_CODE:
            raise DeliveryError(f"{what}: {errcode} {errmsg}", retryable=True, retry_after=BLOCK_SECONDS)
        raise DeliveryError(f"{what}: {errcode} {errmsg}", retryable=errcode in _RETRYABLE_ERRCODES)

    async def post_custom_robot(self, robot: CustomRobot, body: dict[str, Any]) -> None:
        """Send through a custom robot, keeping under its per-minute quota and honouring a block."""
        now = self.clock.now()
        key = robot.url
        blocked = self._blocked.get(key)
        if blocked and now < blocked:
            wait = (blocked - now).total_seconds()
            raise DeliveryError(f"custom robot blocked for {wait:.0f}s more", retryable=True, retry_after=wait)
        window = self._sent.setdefault(key, deque())
        while window and now - window[0] >= timedelta(minutes=1):
            window.popleft()
        if len(window) >= self.settings.webhook_per_minute:
            wait = 60.0 - (now - window[0]).total_seconds()
            raise DeliveryError("custom robot quota of the minute used", retryable=True, retry_after=max(wait, 1.0))
        url = robot.url
        if robot.secret:
            ts = timestamp_ms(now)
            sep = "&" if "?" in url else "?"
            url = f"{url}{sep}timestamp={ts}&sign={sign_query(robot.secret, ts)}"
        window.append(now)
        try:
            await self.post_webhook(url, body, what="custom robot")
        except DeliveryError as exc:
            if exc.retry_after == BLOCK_SECONDS:
                self._blocked[key] = now + timedelta(seconds=BLOCK_SECONDS)
                log.warning("dingtalk custom robot %s blocked for 10 minutes (130101)", redact(robot.url))
            raise


class _AuthError(DeliveryError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail, retryable=False)
