"""HTTP sends: the group robot webhook (``/cgi-bin/webhook/send?key=``) and the AI bot's response_url.

Both answer ``{"errcode", "errmsg"}``. The robot allows 20 messages a minute (doc 91770); this
client keeps its own sliding window per robot so a burst is refused here (retryable, with the
wait) instead of earning WeCom's 45009. Keys and response codes are credentials: they never
appear in errors or logs.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp

from hubao.bot.adapter import DeliveryError
from hubao.bot.clock import Clock

log = logging.getLogger("hubao.wecom")

RATE_LIMITED = 45009  # "api freq out of limit"
BUSY = -1  # "system busy"
BAD_KEY = 93000  # "invalid webhook url"
WINDOW = 60.0


def classify(errcode: int, errmsg: str, what: str) -> DeliveryError:
    """A WeCom error code as a DeliveryError: rate limit and busy are retryable, the rest are not."""
    detail = f"{what}: errcode {errcode} {errmsg[:120]}".strip()
    if errcode == RATE_LIMITED:
        return DeliveryError(detail, retryable=True, retry_after=WINDOW)
    if errcode == BUSY:
        return DeliveryError(detail, retryable=True, retry_after=5.0)
    return DeliveryError(detail, retryable=False)


async def post_json(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], *, what: str, limit: float
) -> dict[str, Any]:
    """POST and return the WeCom answer; transport problems become DeliveryError (no URL in it)."""
    try:
        async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=limit)) as response:
            if response.status >= 500:
                raise DeliveryError(f"{what}: HTTP {response.status}", retryable=True)
            if response.status == 429:
                raise DeliveryError(f"{what}: HTTP 429", retryable=True, retry_after=WINDOW)
            if response.status >= 400:
                raise DeliveryError(f"{what}: HTTP {response.status}", retryable=False)
            try:
                answer = await response.json(content_type=None)
            except (ValueError, aiohttp.ContentTypeError) as exc:
                raise DeliveryError(f"{what}: answer is not JSON", retryable=True) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DeliveryError(f"{what}: {type(exc).__name__}", retryable=True) from None
    if not isinstance(answer, dict):
        raise DeliveryError(f"{what}: answer is not a JSON object", retryable=True)
    return answer


class RobotWebhook:
    """Sends to group robots, keyed by WeCom chatid, within ``rate`` messages per minute per robot."""

    def __init__(
        self,
        keys: dict[str, str],
        *,
        api_base: str,
        rate: int,
        clock: Clock,
        session: Callable[[], aiohttp.ClientSession],
        timeout: float,
    ) -> None:
        self._keys = dict(keys)
        self._api_base = api_base
        self._rate = rate
        self._clock = clock
        self._session = session
        self._timeout = timeout
        self._sent: dict[str, deque[datetime]] = {}
        self._lock = asyncio.Lock()

    def has(self, chat_id: str) -> bool:
        return bool(self._keys.get(chat_id))

    @property
    def chats(self) -> list[str]:
        return list(self._keys)

    def _url(self, key: str) -> str:
        return f"{self._api_base}/cgi-bin/webhook/send?key={key}"

    def reserve(self, chat_id: str, count: int) -> None:
        """Take ``count`` slots in the robot's minute, or raise a retryable error with the wait."""
        now = self._clock.now()
        window = self._sent.setdefault(chat_id, deque())
        while window and (now - window[0]).total_seconds() >= WINDOW:
            window.popleft()
        if count > self._rate:
            raise DeliveryError("message needs more robot sends than one minute allows", retryable=False)
        if len(window) + count > self._rate:
            oldest = window[len(window) + count - self._rate - 1]
            wait = max(WINDOW - (now - oldest).total_seconds(), 1.0)
            raise DeliveryError(
                f"group robot for {chat_id}: {self._rate}/min reached", retryable=True, retry_after=wait
            )
        window.extend([now] * count)

    async def send(self, chat_id: str, body: dict[str, Any]) -> None:
        key = self._keys.get(chat_id)
        if not key:
            raise DeliveryError(f"no group robot configured for chat {chat_id}", retryable=False)
        answer = await post_json(self._session(), self._url(key), body, what="group robot", limit=self._timeout)
        errcode = answer.get("errcode", -1)
        if errcode != 0:
            raise classify(
                int(errcode) if isinstance(errcode, int) else -1, str(answer.get("errmsg", "")), "group robot"
            )

    async def probe(self, chat_id: str) -> str | None:
        """``hubao doctor``: post an empty text (rejected by WeCom without sending); None when the key works."""
        key = self._keys.get(chat_id, "")
        try:
            answer = await post_json(
                self._session(),
                self._url(key),
                {"msgtype": "text", "text": {"content": ""}},
                what="group robot",
                limit=self._timeout,
            )
        except DeliveryError as exc:
            return f"group robot for chat {chat_id}: {exc}"
        errcode = answer.get("errcode")
        if errcode == BAD_KEY or errcode in (40001, 40014, 42001):
            return f"group robot for chat {chat_id}: key refused (errcode {errcode} {answer.get('errmsg', '')})"
        return None
