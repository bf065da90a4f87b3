"""WeCom application messages (应用消息): personal escalation through a self-built app.

The AI bot cannot start a one-to-one chat, so the people a ping names are reached through a
self-built app of the same corp (corp id, agent id, app secret): ``GET /cgi-bin/gettoken`` (7200 s,
cached; fetched anew on 40014/42001) then ``POST /cgi-bin/message/send?access_token=…`` with
``touser`` ``a|b``. WeCom's duplicate check (``enable_duplicate_check``, 30 min) keeps a retried
send from reaching anyone twice. Limits (doc 90236): 30 messages a minute per member per app;
45009 when calls come too fast. The answer names ``invaliduser``s, which are logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from hubao.adapters.wecom.robot import BUSY, RATE_LIMITED, WINDOW
from hubao.bot.adapter import DeliveryError, SendLimit
from hubao.bot.clock import Clock

log = logging.getLogger("hubao.wecom")

PER_MEMBER_LIMIT = SendLimit(30, 60.0)
TOKEN_INVALID = (40014, 42001)  # invalid / expired access_token
TOKEN_MARGIN = timedelta(minutes=5)
MAX_TOUSER = 1000
DUPLICATE_WINDOW = 1800  # seconds; WeCom's maximum is 4 hours


class AppMessenger:
    def __init__(
        self, api_base: str, corp_id: str, agent_id: int, secret: str, clock: Clock,
        session: Callable[[], aiohttp.ClientSession], timeout: float,
    ) -> None:  # fmt: skip
        self.api_base = api_base.rstrip("/")
        self.corp_id = corp_id
        self.agent_id = agent_id
        self._secret = secret
        self.clock = clock
        self._session = session
        self.timeout = timeout
        self._token = ""
        self._until: datetime | None = None
        self._lock = asyncio.Lock()

    async def token(self, *, force: bool = False) -> str:
        async with self._lock:
            now = self.clock.now()
            if self._token and not force and self._until is not None and now < self._until:
                return self._token
            answer = await self._call("GET", "/cgi-bin/gettoken", {"corpid": self.corp_id,
                                                                   "corpsecret": self._secret}, None, "gettoken")
            token = answer.get("access_token")
            if not isinstance(token, str) or not token:
                raise DeliveryError("gettoken: no access_token in the answer", retryable=True)
            seconds = float(answer.get("expires_in") or 7200)
            self._token = token
            self._until = now + max(timedelta(seconds=seconds) - TOKEN_MARGIN, timedelta(seconds=30))
            return token

    async def send(self, users: list[str], text: str) -> list[str]:
        """Send ``text`` to ``users`` (WeCom userids); returns those WeCom called invalid."""
        invalid: list[str] = []
        for start in range(0, len(users), MAX_TOUSER):
            body = {
                "touser": "|".join(users[start : start + MAX_TOUSER]),
                "msgtype": "text",
                "agentid": self.agent_id,
                "text": {"content": text},
                "safe": 0,
                "enable_duplicate_check": 1,
                "duplicate_check_interval": DUPLICATE_WINDOW,
            }
            for attempt in (1, 2):
                token = await self.token(force=attempt == 2)
                try:
                    answer = await self._call("POST", "/cgi-bin/message/send", {"access_token": token}, body,
                                              "message/send")  # fmt: skip
                    break
                except _TokenRejected:
                    if attempt == 2:
                        raise DeliveryError("message/send: access token rejected twice", retryable=True) from None
            invalid += [u for u in str(answer.get("invaliduser", "")).split("|") if u]
        return invalid

    async def _call(
        self, method: str, path: str, params: dict[str, str], body: dict[str, Any] | None, what: str
    ) -> dict[str, Any]:
        try:
            async with self._session().request(
                method, self.api_base + path, params=params, json=body,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:  # fmt: skip
                if response.status >= 500:
                    raise DeliveryError(f"{what}: HTTP {response.status}", retryable=True)
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise DeliveryError(f"{what}: {type(exc).__name__}", retryable=True) from None
        if not isinstance(answer, dict):
            raise DeliveryError(f"{what}: answer is not a JSON object", retryable=True)
        errcode = answer.get("errcode", 0)
        if errcode == 0:
            return answer
        detail = f"{what}: errcode {errcode} {str(answer.get('errmsg', ''))[:120]}"
        if errcode in TOKEN_INVALID:
            raise _TokenRejected(detail)
        if errcode == RATE_LIMITED:
            raise DeliveryError(detail, retryable=True, retry_after=WINDOW)
        if errcode == BUSY:
            raise DeliveryError(detail, retryable=True, retry_after=5.0)
        raise DeliveryError(detail, retryable=False)  # e.g. 81013 no valid user, 60020 IP not trusted


class _TokenRejected(DeliveryError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail, retryable=True)
