"""The outbox worker: priority lanes, a token bucket per target chat, retries with backoff
and jitter, splitting of over-long messages, and a visible dead state.

Storage is reached through :class:`OutboxStore`, so the kernel knows no SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from hubao.bot.adapter import Adapter, DeliveryError, SendLimit
from hubao.bot.clock import Clock
from hubao.bot.events import OutboundMessage

log = logging.getLogger("hubao.delivery")


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    key: str
    lane: int
    attempts: int
    message: OutboundMessage


class OutboxStore(Protocol):
    async def claim(self, now: datetime, limit: int) -> Sequence[OutboxItem]:
        """Due pending items, most urgent lane first, marked as taken by this worker."""
        ...

    async def sent(self, item: OutboxItem, now: datetime) -> None: ...

    async def retry(self, item: OutboxItem, at: datetime, error: str, *, count_attempt: bool = True) -> None: ...

    async def dead(self, item: OutboxItem, now: datetime, error: str) -> None: ...

    async def split(self, item: OutboxItem, parts: Sequence[OutboundMessage], now: datetime) -> None:
        """Replace ``item`` by its parts, queued under derived keys, in order."""
        ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(minutes=10)

    def delay(self, attempts: int, rng: random.Random) -> timedelta:
        """Exponential backoff with full jitter in its upper half."""
        raw = min(self.base * (2 ** max(attempts - 1, 0)), self.cap)
        return raw * (0.5 + rng.random() / 2)


class TokenBucket:
    def __init__(self, limit: SendLimit, now: datetime) -> None:
        self.capacity = float(limit.rate)
        self.refill_per_second = limit.rate / limit.per
        self.tokens = self.capacity
        self.stamp = now

    def take(self, now: datetime) -> timedelta:
        """Take a token; zero if one was there, else how long until one will be."""
        elapsed = max((now - self.stamp).total_seconds(), 0.0)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.refill_per_second)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return timedelta(0)
        return timedelta(seconds=(1 - self.tokens) / self.refill_per_second)


def parse_rate(text: str) -> SendLimit:
    """``20/60s`` or ``5/1s`` → SendLimit."""
    count, _, per = text.partition("/")
    from hubao.bot.timeparse import parse_duration

    return SendLimit(int(count), parse_duration(per or "60s").total_seconds())


def split_message(message: OutboundMessage, max_bytes: int) -> list[OutboundMessage]:
    """Split text on line boundaries so each part fits ``max_bytes`` of UTF-8.

    Mentions, @all and the title go with the first part, buttons with the last, so a
    split message pings once and keeps its card actions.
    """
    if len(message.text.encode()) <= max_bytes:
        return [message]
    chunks: list[str] = []
    current = ""
    for line in message.text.split("\n"):
        for piece in _hard_wrap(line, max_bytes):
            candidate = f"{current}\n{piece}" if current else piece
            if len(candidate.encode()) <= max_bytes:
                current = candidate
            else:
                chunks.append(current)
                current = piece
    if current:
        chunks.append(current)
    parts = []
    for index, chunk in enumerate(chunks):
        first, last = index == 0, index == len(chunks) - 1
        parts.append(
            OutboundMessage(
                platform=message.platform,
                chat_id=message.chat_id,
                text=chunk,
                title=message.title if first else "",
                format=message.format,
                mentions=message.mentions if first else (),
                mention_all=message.mention_all and first,
                buttons=message.buttons if last else (),
                lane=message.lane,
                reply_handle=message.reply_handle,
                updates_card=message.updates_card and last,
                toast=message.toast if last else "",
            )
        )
    return parts


def _hard_wrap(line: str, max_bytes: int) -> list[str]:
    pieces, current = [], ""
    for char in line:
        if len((current + char).encode()) > max_bytes:
            pieces.append(current)
            current = ""
        current += char
    pieces.append(current)
    return pieces


class Deliverer:
    def __init__(
        self,
        store: OutboxStore,
        adapters: Mapping[str, Adapter],
        clock: Clock,
        *,
        retry: RetryPolicy | None = None,
        rates: Mapping[str, SendLimit] | None = None,
        batch: int = 50,
        seed: int | None = None,
        observe: Callable[[str, str], None] | None = None,
    ) -> None:
        self.store = store
        self.adapters = adapters
        self.clock = clock
        self.retry_policy = retry or RetryPolicy()
        self.rates = dict(rates or {})
        self.batch = batch
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._rng = random.Random(seed)
        self._wake = asyncio.Event()
        # Told (platform, "sent" | "retry" | "dead") after each attempt; feeds the metrics.
        self._observe = observe or (lambda _platform, _result: None)

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Deliver what is due now; returns how many items were handled (sent, retried, dead)."""
        handled = 0
        while True:
            items = await self.store.claim(self.clock.now(), self.batch)
            if not items:
                return handled
            for item in items:
                await self._deliver(item)
                handled += 1

    async def run_forever(self, poll_interval: float) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("outbox pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll_interval)

    async def _deliver(self, item: OutboxItem) -> None:
        message = item.message
        now = self.clock.now()
        adapter = self.adapters.get(message.platform)
        if adapter is None:
            self._observe(message.platform, "dead")
            await self.store.dead(item, now, f"no adapter for platform {message.platform!r}")
            log.error("outbox %s dead: platform %s is not enabled", item.key, message.platform)
            return
        parts = split_message(message, adapter.max_text_bytes)
        if len(parts) > 1:
            await self.store.split(item, parts, now)
            return
        wait = self._bucket(adapter, message.chat_id, now).take(now)
        if wait > timedelta(0):
            await self.store.retry(item, now + wait, "rate limited locally", count_attempt=False)
            return
        try:
            await adapter.send(message)
        except DeliveryError as exc:
            await self._failed(item, str(exc), exc.retryable, exc.retry_after)
        except Exception as exc:  # an adapter bug must not stop the worker
            log.exception("adapter %s raised while sending %s", message.platform, item.key)
            await self._failed(item, f"{type(exc).__name__}: {exc}", True, None)
        else:
            self._observe(message.platform, "sent")
            await self.store.sent(item, self.clock.now())

    async def _failed(self, item: OutboxItem, error: str, retryable: bool, retry_after: float | None) -> None:
        now = self.clock.now()
        attempts = item.attempts + 1
        if not retryable or attempts >= self.retry_policy.max_attempts:
            self._observe(item.message.platform, "dead")
            await self.store.dead(item, now, error)
            log.error("outbox %s dead after %d attempts: %s", item.key, attempts, error[:200])
            return
        delay = self.retry_policy.delay(attempts, self._rng)
        if retry_after is not None:
            delay = max(delay, timedelta(seconds=retry_after))
        self._observe(item.message.platform, "retry")
        await self.store.retry(item, now + delay, error)
        log.warning(
            "outbox %s attempt %d failed, retry in %ss: %s", item.key, attempts, int(delay.total_seconds()), error[:200]
        )

    def _bucket(self, adapter: Adapter, chat_id: str, now: datetime) -> TokenBucket:
        key = (adapter.platform, chat_id)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.rates.get(adapter.platform, adapter.send_limit), now)
            self._buckets[key] = bucket
        return bucket
