"""The outbox worker: send channels with their own limits, priority lanes, retries with backoff
and jitter, merging of waiting replies, splitting of over-long messages, and a visible dead state.

Storage is reached through :class:`OutboxStore`, so the kernel knows no SQL.

Messages wait in *send channels*: a chat's own channel (its robot or API, at the platform's
per-chat rate), or a channel of their own (a single-use reply URL, no rate). Each channel's
recent sends and next permitted send time (its *pace*) are kept in the database beside the
messages, so every instance respects one rate per channel. The worker knows when each channel
can next send and sleeps until the earliest such moment: a backlog held back by a rate or a
platform block costs nothing while it waits, and never delays another channel (each channel is
sent by its own task).

What is and is not guaranteed:

- A message is written in the transaction of its cause and stays until sent or dead: a crash,
  restart or platform outage delays it, never loses it (retries span about an hour by default).
- The outbox key is unique, so a cause processed twice queues one message.
- Each item is claimed by one worker (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) for a short time
  (``claim_ttl``) that the worker renews while it is alive (every third of it). A worker claims
  only what it sends next (one send of a rate-limited channel), so a dead worker strands a few
  messages for one ``claim_ttl`` at most; any instance then takes them over, urgent lane first.
- A send whose "sent" mark is lost (crash or database failure right after the platform accepted
  it) is sent again when the claim lapses. The retry carries the same ``idempotency_key``:
  platforms that de-duplicate on it (Feishu's ``uuid``, one hour) post it once; WeCom and
  DingTalk robots have no such key and may show it twice. That window is the one HTTP round trip
  between the platform's answer and the database commit.
- Several plain replies waiting in one channel go out as one message (up to the platform's size
  limit, every mention kept). Its key is derived from the keys it carries, so a retry of the
  same group is de-duplicated like a single message.
- A worker whose claim lapsed (it could not renew) does not start the send; its late writes
  cannot overwrite another worker's claim.
- Parts of a split message are queued in order; if one part needs a retry, a later part may
  arrive before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from hubao.bot.adapter import Adapter, DeliveryError, SendLimit
from hubao.bot.clock import Clock
from hubao.bot.events import Lane, OutboundMessage

log = logging.getLogger("hubao.delivery")

CHAT_CHANNEL = ""  # the channel key of a chat's own channel
MERGE_MAX = 50  # replies carried by one merged message at most
MERGE_SEPARATOR = "\n\n"


@dataclass(frozen=True, slots=True, order=True)
class ChannelKey:
    platform: str
    chat_id: str
    channel: str = CHAT_CHANNEL


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    key: str
    lane: int
    attempts: int
    message: OutboundMessage
    claimed_until: datetime | None = None  # the claim lapses then unless renewed
    channel: str = CHAT_CHANNEL

    @property
    def channel_key(self) -> ChannelKey:
        return ChannelKey(self.message.platform, self.message.chat_id, self.channel)


@dataclass(frozen=True, slots=True)
class ChannelDue:
    """A channel holding pending messages: its most urgent lane and when it can next send."""

    key: ChannelKey
    lane: int
    due: datetime
    first_id: int = 0  # its oldest waiting message: channels go in the order their messages came


class OutboxStore(Protocol):
    # True when rows become visible in id order (one writer at a time, as on SQLite): a look for
    # new rows then starts right after the highest id seen, with no look back.
    commits_in_id_order: bool

    async def channels(self, now: datetime, since_id: int = 0) -> tuple[list[ChannelDue], int]:
        """Channels with pending messages (only those with rows after ``since_id`` when given),
        and the highest outbox id at the time. ``due`` already accounts for the channel's pace."""
        ...

    async def take_over(self, now: datetime) -> list[ChannelDue]:
        """Hand back to the queue the items whose claim lapsed (their worker died); their channels."""
        ...

    async def due(self, key: ChannelKey, now: datetime) -> ChannelDue | None:
        """When ``key`` can next send, or None when nothing is pending in it."""
        ...

    async def claim(
        self,
        key: ChannelKey,
        now: datetime,
        *,
        until: datetime,
        rate: SendLimit | None,
        batch: int,
        plan: Plan,
    ) -> Sequence[OutboxItem]:
        """Due items from the head of ``key`` (most urgent lane first, then in order), marked as
        taken by this worker until ``until``. With a ``rate``, nothing is claimed before the
        channel's next permitted send, ``plan(candidates, sends)`` picks what the sends the rate
        allows now will carry and the channel's window records them; without, ``batch`` sends."""
        ...

    async def renew(self, until: datetime) -> int:
        """Extend every claim this worker holds; how many items it holds."""
        ...

    async def hold(self, key: ChannelKey, until: datetime) -> None:
        """Nothing leaves ``key`` before ``until`` (the platform asked to wait)."""
        ...

    async def sent(self, items: Sequence[OutboxItem], now: datetime) -> None: ...

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


# (candidates from a channel's head, sends allowed now) → (items taken, sends they make)
Plan = Callable[[Sequence["OutboxItem"], int], tuple[int, int]]


def window_of(limit: SendLimit) -> timedelta:
    """The window a channel's sends are counted in: the platform's, with a margin. A send is
    counted when it is claimed; the platform counts it when it arrives, a little later and not
    always equally later (sends in a burst go one after another)."""
    return timedelta(seconds=limit.per * 1.02 + 0.05)


def window_slots(recent: Sequence[datetime], now: datetime, limit: SendLimit) -> tuple[list[datetime], int]:
    """A channel's sends still inside the window, and how many more it may make now.

    A sliding window (at most ``rate`` sends in any ``per`` seconds) rather than a refilling
    bucket: a full burst and its refill can land in one window (39 messages in a minute against
    a 20/min robot), which platforms that count per window (WeCom 45009, DingTalk 130101 and a
    10-minute block) answer with an error.
    """
    start = now - window_of(limit)
    inside = sorted(t for t in recent if t > start)
    return inside, max(max(int(limit.rate), 1) - len(inside), 0)


def window_ready(recent: Sequence[datetime], now: datetime, limit: SendLimit) -> datetime:
    """When the channel may next send, given its sends inside the window."""
    capacity = max(int(limit.rate), 1)
    if len(recent) < capacity:
        return now
    return sorted(recent)[len(recent) - capacity] + window_of(limit)


def parse_rate(text: str) -> SendLimit:
    """``20/60s`` or ``5/1s`` → SendLimit."""
    count, _, per = text.partition("/")
    from hubao.bot.timeparse import parse_duration

    return SendLimit(int(count), parse_duration(per or "60s").total_seconds())


# --- send channels ------------------------------------------------------------------------------

ChannelRule = Callable[[Mapping[str, Any]], str]
_CHANNEL_RULES: dict[str, ChannelRule] = {}


def register_channel_rule(platform: str, rule: ChannelRule) -> None:
    """How ``platform`` files a queued message (its JSON form) into a send channel."""
    _CHANNEL_RULES[platform] = rule


def channel_of(payload: Mapping[str, Any]) -> str:
    """The send channel a message waits in; the chat's own unless its platform says otherwise."""
    rule = _CHANNEL_RULES.get(str(payload.get("platform", "")))
    return rule(payload) if rule is not None else CHAT_CHANNEL


def channel_limit(adapter: Adapter, chat_id: str, channel: str) -> SendLimit | None:
    """The limit of one send channel: the adapter's ``channel_limit`` when it has one."""
    rule: Callable[[str, str], SendLimit | None] | None = getattr(adapter, "channel_limit", None)
    return rule(chat_id, channel) if rule is not None else adapter.send_limit


# --- merging and splitting ----------------------------------------------------------------------


def mergeable(message: OutboundMessage) -> bool:
    """A plain reply: text that may share a message with other replies to the same chat."""
    return (
        message.lane == Lane.REPLY
        and not message.buttons
        and not message.updates_card
        and not message.toast
        and not message.title
    )


def merge_messages(messages: Sequence[OutboundMessage]) -> OutboundMessage:
    """One message carrying every text in order and every mention (each once)."""
    first = messages[0]
    if len(messages) == 1:
        return first
    mentions: dict[str, Any] = {}
    for message in messages:
        for user in message.mentions:
            mentions.setdefault(user.id, user)
    return replace(
        first,
        text=MERGE_SEPARATOR.join(m.text for m in messages),
        mentions=tuple(mentions.values()),
        mention_all=any(m.mention_all for m in messages),
    )


def merged_key(items: Sequence[OutboxItem]) -> str:
    """The idempotency key of a merged send: the same group of items always gives the same key."""
    if len(items) == 1:
        return items[0].key
    digest = hashlib.sha256("\n".join(i.key for i in items).encode()).hexdigest()[:32]
    return f"merged:{digest}"


def group_for_send(
    items: Sequence[OutboxItem], max_bytes: int, sends: int, *, merge: bool = True
) -> list[list[OutboxItem]]:
    """Items from the head of a channel grouped into at most ``sends`` messages.

    With ``merge`` (more is waiting than the rate lets go now), consecutive plain replies of the
    same format share a message while it stays within ``max_bytes``; anything else goes alone.
    """
    groups: list[list[OutboxItem]] = []
    size = 0
    for item in items:
        message = item.message
        current = groups[-1] if groups else None
        if (
            merge
            and current is not None
            and mergeable(message)
            and mergeable(current[0].message)
            and current[0].message.format == message.format
            and len(current) < MERGE_MAX
            and size + len(MERGE_SEPARATOR) + len(message.text.encode()) <= max_bytes
        ):
            current.append(item)
            size += len(MERGE_SEPARATOR) + len(message.text.encode())
            continue
        if len(groups) == sends:
            break
        groups.append([item])
        size = len(message.text.encode())
    return groups


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


# --- the worker ---------------------------------------------------------------------------------


class Deliverer:
    # New rows are found by id; on PostgreSQL ids are taken before commit, so a row committed
    # late may carry an id lower than one already seen. Looking this far back finds it.
    ID_LOOKBACK = 5.0  # seconds
    FULL_SCAN_EVERY = 30.0  # seconds: retries set by instances that died since are found again
    WAKE_COALESCE = 0.005  # seconds

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
        claim_ttl: timedelta = timedelta(seconds=10),
        concurrency: int = 16,
    ) -> None:
        self.store = store
        self.adapters = adapters
        self.clock = clock
        self.retry_policy = retry or RetryPolicy()
        self.rates = dict(rates or {})  # per platform: the limit of its chats' own channels
        self.batch = batch  # items one claim takes from a channel without a rate
        self.send_timeout = send_timeout
        self.claim_ttl = claim_ttl
        self.concurrency = concurrency  # channels sent at once
        self._rng = random.Random(seed)
        self._observe = observe or (lambda _platform, _result: None)  # (platform, sent|retry|dead)
        self._wake = asyncio.Event()
        self._due: dict[ChannelKey, ChannelDue] = {}  # what this worker knows is waiting
        self._busy: dict[ChannelKey, asyncio.Task[None]] = {}
        self._held = 0  # items this worker has claimed and not yet settled
        self._renewed_until: datetime | None = None
        self._ids: deque[tuple[float, int]] = deque()  # (monotonic time, highest id seen then)
        self._full_scan_at = 0.0

    # --- waking ------------------------------------------------------------------------------

    def wake(self) -> None:
        """New messages may be queued: look for them (one small query) and send what can go now."""
        self._wake.set()

    # --- one pass (tests, the console, ``App.advance``) ---------------------------------------

    async def run_once(self) -> int:
        """Deliver what is due now, channel by channel; returns the items handled."""
        now = self.clock.now()
        await self._refresh(now, full=True)
        handled = 0
        while True:
            now = self.clock.now()
            ready = self._ready(now)
            if not ready:
                return handled
            for key in ready:
                handled += await self._round(key)

    # --- running -----------------------------------------------------------------------------

    async def run_forever(self, poll_interval: float) -> None:
        """Sleep until the earliest moment a channel can send, a wake, or ``poll_interval``.

        Each poll looks for rows queued by other instances (by id) and claims that lapsed; every
        ``FULL_SCAN_EVERY`` seconds the whole queue is read again.
        """
        renewer = asyncio.create_task(self._renew_forever())
        take_over_at = 0.0
        try:
            while True:
                self._wake.clear()
                try:
                    now, mono = self.clock.now(), time.monotonic()
                    take_over = mono >= take_over_at
                    if take_over:
                        take_over_at = mono + poll_interval
                    await self._refresh(now, full=mono >= self._full_scan_at, take_over=take_over)
                    self._start_ready(self.clock.now())
                except Exception:
                    log.exception("outbox pass failed")
                with contextlib.suppress(TimeoutError):  # (not wait_for: it can swallow a cancel)
                    async with asyncio.timeout(self._sleep_for(min(poll_interval, take_over_at - time.monotonic()))):
                        await self._wake.wait()
                if self._wake.is_set():  # a burst of new messages costs one look, not one each
                    await asyncio.sleep(self.WAKE_COALESCE)
        finally:
            renewer.cancel()
            for task in list(self._busy.values()):
                task.cancel()
            await asyncio.gather(renewer, *self._busy.values(), return_exceptions=True)

    def _sleep_for(self, poll_interval: float) -> float:
        poll_interval = max(poll_interval, 0.0)
        idle = [d.due for k, d in self._due.items() if k not in self._busy]
        if not idle or len(self._busy) >= self.concurrency:
            return poll_interval
        until = (min(idle) - self.clock.now()).total_seconds()
        return min(max(until, 0.0), poll_interval)

    def _start_ready(self, now: datetime) -> None:
        for key in self._ready(now):
            if len(self._busy) >= self.concurrency:
                return
            task = asyncio.create_task(self._drain(key))
            self._busy[key] = task
            task.add_done_callback(lambda _t, key=key: self._finished(key))

    def _finished(self, key: ChannelKey) -> None:
        self._busy.pop(key, None)
        self._wake.set()  # a sending slot is free and the channel's next time is known

    async def _drain(self, key: ChannelKey) -> None:
        """Send from one channel while it may send; a backlog in it holds up no other channel."""
        try:
            while (due := self._due.get(key)) is not None and due.due <= self.clock.now():
                await self._round(key)
        except Exception:
            log.exception("outbox channel %s/%s failed", key.platform, key.chat_id)
            self._due.pop(key, None)  # found again by the next full scan

    async def _renew_forever(self) -> None:
        period = self.claim_ttl.total_seconds() / 3
        while True:
            await asyncio.sleep(period)
            if self._held:
                try:
                    until = self.clock.now() + self.claim_ttl
                    await self.store.renew(until)
                    self._renewed_until = until
                except Exception:
                    log.exception("renewing outbox claims failed")

    # --- what is waiting ---------------------------------------------------------------------

    async def _refresh(self, now: datetime, *, full: bool, take_over: bool = True) -> None:
        if take_over:
            for taken in await self.store.take_over(now):
                self._note(taken)
        mono = time.monotonic()
        if full or not self._ids:
            found, highest = await self.store.channels(now)
            self._due = {d.key: d for d in found} | {k: self._due[k] for k in self._busy if k in self._due}
            self._full_scan_at = mono + self.FULL_SCAN_EVERY
        elif self.store.commits_in_id_order:  # nothing can appear below the highest id seen
            found, highest = await self.store.channels(now, self._ids[-1][1])
            for d in found:
                self._note(d)
        else:
            since = self._ids[0][1]
            for seen_at, highest_then in self._ids:
                if seen_at <= mono - self.ID_LOOKBACK:
                    since = highest_then
            found, highest = await self.store.channels(now, since)
            for d in found:
                self._note(d)
        self._ids.append((mono, highest))
        while len(self._ids) > 1 and self._ids[1][0] <= mono - self.ID_LOOKBACK:
            self._ids.popleft()

    def _note(self, found: ChannelDue) -> None:
        known = self._due.get(found.key)
        if known is None or (found.due, found.lane, found.first_id) < (known.due, known.lane, known.first_id):
            self._due[found.key] = found

    def _ready(self, now: datetime) -> list[ChannelKey]:
        """Channels that can send now, most urgent lane first, then in the order their messages
        came (another instance sending one of them right now is skipped, not waited for)."""
        ready = [d for k, d in self._due.items() if d.due <= now and k not in self._busy]
        ready.sort(key=lambda d: (d.lane, d.first_id))
        return [d.key for d in ready]

    # --- one round of one channel ------------------------------------------------------------

    async def _round(self, key: ChannelKey) -> int:
        """Claim what the channel may send now, send it, then learn when it can send next."""
        now = self.clock.now()
        adapter = self.adapters.get(key.platform)
        limit = channel_limit(adapter, key.chat_id, key.channel) if adapter is not None else None
        if adapter is not None and key.channel == CHAT_CHANNEL and key.platform in self.rates:
            limit = self.rates[key.platform]
        max_bytes = adapter.max_text_bytes if adapter is not None else 0
        merge = False

        def plan(candidates: Sequence[OutboxItem], sends: int) -> tuple[int, int]:
            nonlocal merge
            if adapter is None:
                return len(candidates), 0
            # Replies are merged only when more waits than the rate lets go now.
            merge = limit is not None and len(candidates) > sends
            groups = group_for_send(candidates, max_bytes, sends, merge=merge)
            return sum(len(g) for g in groups), len(groups)

        items = await self.store.claim(
            key, now, until=now + self.claim_ttl, rate=limit, batch=self.batch, plan=plan
        )
        handled = 0
        if items:
            self._held += len(items)
            try:
                if adapter is None:
                    for item in items:
                        await self._no_adapter(item, now)
                else:
                    held = False
                    for group in group_for_send(items, max_bytes, len(items), merge=merge):
                        if held:  # the platform asked this channel to wait: the rest keep their place
                            for item in group:
                                await self.store.retry(item, self.clock.now(), "channel held", count_attempt=False)
                            continue
                        held = await self._deliver(adapter, key, group)
            finally:
                self._held -= len(items)
            handled = len(items)
        due = await self.store.due(key, self.clock.now())
        if due is None or (not items and due.due <= self.clock.now()):
            # Nothing left, or its head is claimed by another worker: found again by a scan.
            self._due.pop(key, None)
        else:
            self._due[key] = due
        return handled

    async def _no_adapter(self, item: OutboxItem, now: datetime) -> None:
        platform = item.message.platform
        self._observe(platform, "dead")
        await self.store.dead(item, now, f"no adapter for platform {platform!r}")
        log.error("outbox %s dead: platform %s is not enabled", item.key, platform)

    def _claim_holds(self, items: Sequence[OutboxItem], now: datetime) -> bool:
        """Is this worker's claim on ``items`` still good (as claimed, or as last renewed)?"""
        ends = [i.claimed_until for i in items if i.claimed_until is not None]
        if not ends:
            return True
        until = min(ends)
        if self._renewed_until is not None and self._renewed_until > until:
            until = self._renewed_until
        return now < until

    async def _deliver(self, adapter: Adapter, key: ChannelKey, group: Sequence[OutboxItem]) -> bool:
        """Send one group as one message; True when the platform asked the channel to wait."""
        now = self.clock.now()
        if len(group) == 1:
            parts = split_message(group[0].message, adapter.max_text_bytes)
            if len(parts) > 1:
                await self.store.split(group[0], parts, now)
                return False
        if not self._claim_holds(group, now):
            # The claim could not be renewed and may be another worker's now: do not send.
            for item in group:
                await self.store.retry(item, now, "claim ran out before sending", count_attempt=False)
            return False
        message = replace(merge_messages([i.message for i in group]), idempotency_key=merged_key(group))
        try:
            async with asyncio.timeout(self.send_timeout):
                await adapter.send(message)
        except DeliveryError as exc:
            await self._failed(key, group, str(exc), exc.retryable, exc.retry_after)
            return exc.retry_after is not None
        except TimeoutError:
            await self._failed(key, group, f"send timed out after {self.send_timeout:.0f}s", True, None)
        except Exception as exc:  # an adapter bug must not stop the worker
            log.exception("adapter %s raised while sending %s", key.platform, group[0].key)
            await self._failed(key, group, f"{type(exc).__name__}: {exc}", True, None)
        else:
            for _ in group:
                self._observe(key.platform, "sent")
            await self.store.sent(group, self.clock.now())
        return False

    async def _failed(
        self, key: ChannelKey, group: Sequence[OutboxItem], error: str, retryable: bool, retry_after: float | None
    ) -> None:
        now = self.clock.now()
        if retry_after is not None:  # the platform asked the whole channel to wait
            await self.store.hold(key, now + timedelta(seconds=retry_after))
        for item in group:
            attempts = item.attempts + 1
            if not retryable or attempts >= self.retry_policy.max_attempts:
                self._observe(key.platform, "dead")
                await self.store.dead(item, now, error)
                log.error("outbox %s dead after %d attempts: %s", item.key, attempts, error[:200])
                continue
            delay = self.retry_policy.delay(attempts, self._rng)
            if retry_after is not None:  # (it keeps its place: a channel's queue is in creation order)
                delay = max(delay, timedelta(seconds=retry_after))
            self._observe(key.platform, "retry")
            await self.store.retry(item, now + delay, error)
            log.warning(
                "outbox %s attempt %d failed, retry in %ss: %s",
                item.key, attempts, int(delay.total_seconds()), error[:200],
            )  # fmt: skip
