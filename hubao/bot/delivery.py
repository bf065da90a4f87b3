"""The outbox worker: priority lanes, a token bucket per target chat, retries with backoff
and jitter, splitting of over-long messages, and a visible dead state.

Storage is reached through :class:`OutboxStore`, so the kernel knows no SQL.

What is and is not guaranteed:

- A message is written in the transaction of its cause and stays until sent or dead: a crash,
  restart or platform outage delays it, never loses it (retries span about an hour by default).
- The outbox key is unique, so a cause processed twice queues one message.
- Each item is claimed by one worker (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) for a limited
  time. A send whose "sent" mark is lost (crash or database failure right after the platform
  accepted it) is sent again when the claim expires. The retry carries the same
  ``idempotency_key`` (the outbox key): platforms that de-duplicate on it (Feishu's ``uuid``, one
  hour) post it once; WeCom and DingTalk robots have no such key and may show it twice. That
  window is the one HTTP round trip between the platform's answer and the database commit.
- A worker never starts a send whose claim could expire mid-send (``send_timeout`` bounds a
  send); it hands such items back instead, and its late writes cannot overwrite another
  worker's claim.
- Parts of a split message are queued in order; if one part needs a retry, a later part may
  arrive before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
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
    claimed_until: datetime | None = None  # the claim lapses then; another worker may take the item


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
    max_attempts: int = 15
    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(minutes=10)

    def delay(self, attempts: int, rng: random.Random) -> timedelta:
        """Exponential backoff with full jitter in its upper half."""
        raw = min(self.base * (2 ** max(attempts - 1, 0)), self.cap)
        return raw * (0.5 + rng.random() / 2)


class TokenBucket:
    """The send limit of one target chat: at most ``rate`` sends in any window of ``per`` seconds.

    A sliding window rather than a refilling bucket: a refilling bucket lets a full burst and the
    refill land in the same window (39 messages in a minute against a 20/min robot), which
    platforms that count per window (WeCom 45009, DingTalk 130101) answer with an error.
    """

    def __init__(self, limit: SendLimit, now: datetime) -> None:
        self.capacity = max(int(limit.rate), 1)
        self.per = timedelta(seconds=limit.per)
        self.stamps: deque[datetime] = deque()

    def take(self, now: datetime) -> timedelta:
        """Take a slot; zero if one was free, else how long until one will be."""
        while self.stamps and self.stamps[0] <= now - self.per:
            self.stamps.popleft()
        if len(self.stamps) < self.capacity:
            self.stamps.append(now)
            return timedelta(0)
        return self.stamps[0] + self.per - now


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
        send_timeout: float = 60.0,
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
        # A send taking longer is abandoned (and retried): it must end well inside the claim.
        self.send_timeout = send_timeout
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
        if item.claimed_until is not None and now + timedelta(seconds=self.send_timeout) > item.claimed_until:
            # A long batch ate the claim: hand the item back rather than race another worker.
            await self.store.retry(item, now, "claim ran out before sending", count_attempt=False)
            return
        wait = self._bucket(adapter, message.chat_id, now).take(now)
        if wait > timedelta(0):
            await self.store.retry(item, now + wait, "rate limited locally", count_attempt=False)
            return
        try:
            async with asyncio.timeout(self.send_timeout):
                await adapter.send(replace(message, idempotency_key=item.key))
        except DeliveryError as exc:
            await self._failed(item, str(exc), exc.retryable, exc.retry_after)
        except TimeoutError:
            await self._failed(item, f"send timed out after {self.send_timeout:.0f}s", True, None)
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
