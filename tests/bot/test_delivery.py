"""The durable outbox: retries, send channels and their rates, lanes, merging, splitting, dead
letters, claims and their renewal, crash windows.

The transport seam is ``Adapter.send``: most tests use a recording adapter there; the last ones
send over real loopback HTTP to a stand-in platform that de-duplicates like Feishu does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlmodel import col, select

from hubao.app import App
from hubao.bot.adapter import Adapter, DeliveryError, SendLimit
from hubao.bot.clock import ManualClock
from hubao.bot.delivery import ChannelKey, OutboxItem, RetryPolicy, split_message, window_of
from hubao.bot.events import Button, Lane, OutboundMessage, User
from hubao.storage import repo
from hubao.storage.models import Outbox
from hubao.storage.outbox import SqlOutbox

CLAIM_TTL = timedelta(seconds=10)  # delivery.claim_ttl's default
C1 = ChannelKey("fake", "c1")
MINUTE = window_of(SendLimit(20, 60.0))  # a robot's minute, as the worker counts it (with a margin)


class Crash(BaseException):
    """The process dies right here."""


@dataclass
class Sent:
    at: datetime
    message: OutboundMessage


@dataclass
class RecordingAdapter(Adapter):
    """A platform at the transport seam: records each send, or fails as scripted."""

    clock: ManualClock
    platform: str = "fake"
    send_limit: SendLimit = field(default_factory=lambda: SendLimit(1000, 1.0))
    max_text_bytes: int = 4000
    failures: list[BaseException] = field(default_factory=list)  # raised by the next sends, in order
    cost: timedelta = timedelta(0)  # how long a send takes on the clock
    crash_after_send: bool = False
    unlimited: bool = False  # a channel without a rate (like a single-use reply URL)
    sent: list[Sent] = field(default_factory=list)
    attempts: list[OutboundMessage] = field(default_factory=list)  # every send tried, failed ones too

    def channel_limit(self, chat_id: str, channel: str) -> SendLimit | None:
        return None if self.unlimited else self.send_limit

    async def send(self, message: OutboundMessage) -> None:
        self.attempts.append(message)
        if self.failures:
            raise self.failures.pop(0)
        self.clock.advance(self.cost)
        self.sent.append(Sent(self.clock.now(), message))
        if self.crash_after_send:
            raise Crash

    @property
    def texts(self) -> list[str]:
        return [s.message.text for s in self.sent]


def msg(text: str, lane: Lane = Lane.REPLY, chat: str = "c1", **fields: Any) -> OutboundMessage:
    return OutboundMessage(platform="fake", chat_id=chat, text=text, lane=lane, **fields)


async def queue(app: App, *messages: OutboundMessage, prefix: str = "m") -> None:
    async with app.db.transaction() as session:
        items = [(f"{prefix}{i}", m.to_json(), int(m.lane)) for i, m in enumerate(messages)]
        await repo.enqueue(session, items, now=app.clock.now())


async def rows(app: App) -> list[Outbox]:
    async with app.db.transaction() as session:
        return list((await session.exec(select(Outbox).order_by(col(Outbox.id)))).all())


@pytest.fixture
def fake(clock: ManualClock) -> RecordingAdapter:
    return RecordingAdapter(clock)


@pytest.fixture
async def app(make_app: Any, fake: RecordingAdapter) -> App:
    built: App = await make_app(adapters={"fake": fake})
    return built


# --- retries ----------------------------------------------------------------------------------


async def test_platform_5xx_is_retried_with_backoff_then_sent(app: App, fake: RecordingAdapter) -> None:
    fake.failures = [DeliveryError("HTTP 502 from platform", retryable=True)]
    await queue(app, msg("hello"))
    start = app.clock.now()
    assert await app.deliver() == 1
    (row,) = await rows(app)
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, "HTTP 502 from platform")
    assert start + timedelta(seconds=1) <= row.next_attempt_at <= start + timedelta(seconds=2)  # 2 s, jittered
    await app.advance(timedelta(seconds=2))
    (row,) = await rows(app)
    assert (row.state, row.attempts) == ("sent", 2)
    assert fake.texts == ["hello"]


async def test_platform_rate_limit_code_waits_as_long_as_told(app: App, fake: RecordingAdapter) -> None:
    fake.failures = [DeliveryError("code 99991400: too many requests", retryable=True, retry_after=30)]
    await queue(app, msg("hello"))
    await app.deliver()
    await app.advance(timedelta(seconds=29))
    assert fake.sent == []
    await app.advance(timedelta(seconds=1))
    assert fake.texts == ["hello"]


async def test_network_errors_and_adapter_bugs_are_retried(app: App, fake: RecordingAdapter) -> None:
    fake.failures = [DeliveryError("network error ClientConnectorError", retryable=True), KeyError("oops")]
    await queue(app, msg("hello"))
    await app.advance(timedelta(minutes=1))
    (row,) = await rows(app)
    assert (row.state, row.attempts) == ("sent", 3)


def test_backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half() -> None:
    import random

    policy = RetryPolicy(max_attempts=15, base=timedelta(seconds=2), cap=timedelta(minutes=10))
    rng = random.Random(7)
    for attempts, nominal in [(1, 2), (2, 4), (5, 32), (9, 512), (10, 600), (14, 600)]:
        delay = policy.delay(attempts, rng).total_seconds()
        assert nominal / 2 <= delay <= nominal
    total = sum(policy.delay(a, random.Random(a)).total_seconds() for a in range(1, 15))
    assert 30 * 60 < total < 70 * 60  # the default policy keeps trying for about an hour


async def test_dead_after_the_last_attempt_is_listed_and_logged(
    make_app: Any, fake: RecordingAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    app = await make_app(adapters={"fake": fake}, **{"delivery.max_attempts": 3})
    fake.failures = [DeliveryError("HTTP 503", retryable=True) for _ in range(5)]
    await queue(app, msg("hello"))
    with caplog.at_level(logging.ERROR, logger="hubao.delivery"):
        await app.advance(timedelta(hours=1))
    (row,) = await rows(app)
    assert (row.state, row.attempts, row.last_error) == ("dead", 3, "HTTP 503")
    assert [r.key for r in await app.outbox.listing()] == ["m0"]
    assert "outbox m0 dead after 3 attempts: HTTP 503" in caplog.text
    assert len(fake.failures) == 2  # no attempt after the last one


async def test_a_rejected_message_goes_dead_at_once(app: App, fake: RecordingAdapter) -> None:
    fake.failures = [DeliveryError("code 230002: bot not in chat", retryable=False)]
    await queue(app, msg("hello"))
    await app.advance(timedelta(hours=1))
    (row,) = await rows(app)
    assert (row.state, row.attempts) == ("dead", 1)


async def test_a_message_for_a_platform_not_enabled_goes_dead(app: App) -> None:
    await queue(app, OutboundMessage(platform="wecom", chat_id="x", text="hi"))
    await app.deliver()
    (row,) = await rows(app)
    assert (row.state, row.last_error) == ("dead", "no adapter for platform 'wecom'")


async def test_a_hanging_send_times_out_and_is_retried(app: App, fake: RecordingAdapter) -> None:
    class Hang(RecordingAdapter):
        async def send(self, message: OutboundMessage) -> None:
            await asyncio.sleep(3600)

    app.adapters["fake"] = Hang(fake.clock)
    app.deliverer.send_timeout = 0.05
    await queue(app, msg("hello"))
    await app.deliver()
    (row,) = await rows(app)
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, "send timed out after 0s")


# --- send channels, rates and lanes -------------------------------------------------------------


async def test_a_chat_channel_holds_the_platform_rate_in_every_window(app: App, fake: RecordingAdapter) -> None:
    fake.send_limit = SendLimit(20, 60.0)  # WeCom and DingTalk robots
    start = app.clock.now()
    await queue(app, *(msg(f"a{i}", Lane.DIGEST) for i in range(25)))
    await queue(app, *(msg(f"b{i}", Lane.DIGEST, "c2") for i in range(3)), prefix="b")
    await app.advance(timedelta(minutes=2))
    c1 = [(s.at - start).total_seconds() for s in fake.sent if s.message.chat_id == "c1"]
    c2 = [(s.at - start).total_seconds() for s in fake.sent if s.message.chat_id == "c2"]
    assert c1 == [0.0] * 20 + [MINUTE.total_seconds()] * 5  # never more than 20 in any minute (and a margin)
    assert c2 == [0.0] * 3  # the other chat has its own channel and rate
    assert {r.state for r in await rows(app)} == {"sent"}
    assert all(r.attempts == 1 for r in await rows(app))  # waiting for the rate is not an attempt


async def test_config_rate_overrides_the_adapter_default(make_app: Any, fake: RecordingAdapter) -> None:
    app = await make_app(adapters={"fake": fake}, **{"delivery.rates": {"fake": "2/10s"}})
    start = app.clock.now()
    await queue(app, *(msg(f"m{i}", Lane.DIGEST) for i in range(4)))
    await app.advance(timedelta(seconds=30))
    assert [(s.at - start).total_seconds() for s in fake.sent] == [0, 0, 10.25, 10.25]  # 10 s and a margin


async def test_a_backlog_waiting_for_its_rate_is_not_claimed_or_touched(app: App, fake: RecordingAdapter) -> None:
    fake.send_limit = SendLimit(20, 60.0)
    await queue(app, *(msg(f"d{i}", Lane.DIGEST) for i in range(300)))
    before = {r.id: (r.next_attempt_at, r.attempts) for r in await rows(app)}
    assert await app.deliver() == 20  # what the rate allows now
    after = await rows(app)
    assert [r.state for r in after].count("sent") == 20
    assert [r.state for r in after].count("sending") == 0  # nothing claimed that cannot go
    waiting = [r for r in after if r.state == "pending"]
    assert all((r.next_attempt_at, r.attempts) == before[r.id] for r in waiting)  # no churn on the backlog
    assert await app.deliver() == 0  # until the rate allows, a pass does nothing
    assert await app.next_due() == app.clock.now() + MINUTE  # the worker sleeps until then


async def test_a_backlog_in_one_chat_does_not_delay_another_chat(app: App, fake: RecordingAdapter) -> None:
    fake.send_limit = SendLimit(5, 1.0)  # Feishu: 5/s per chat
    await queue(app, *(msg(f"d{i}", Lane.DIGEST) for i in range(500)), prefix="d")
    await app.deliver()
    await queue(app, msg("answer in another chat", chat="c2"), prefix="other")
    await app.deliver()
    assert fake.texts == [f"d{i}" for i in range(5)] + ["answer in another chat"]


async def test_escalations_and_urgent_go_first_under_a_burst(app: App, fake: RecordingAdapter) -> None:
    fake.send_limit = SendLimit(5, 1.0)  # Feishu: 5/s per chat
    await queue(app, *(msg(f"digest {i}", Lane.DIGEST) for i in range(6)), prefix="d")
    await queue(app, *(msg(f"reply {i}", Lane.REPLY) for i in range(8)), prefix="r")
    await queue(app, *(msg(f"urgent {i}", Lane.URGENT) for i in range(3)), prefix="u")
    await app.advance(timedelta(seconds=5))
    lanes = [s.message.lane for s in fake.sent]
    assert lanes == sorted(lanes)
    assert fake.texts[:3] == ["urgent 0", "urgent 1", "urgent 2"]
    assert fake.texts[3] == "\n\n".join(f"reply {i}" for i in range(8))  # the waiting replies, as one
    assert fake.texts[4:] == [f"digest {i}" for i in range(6)]  # each lane in its queue order
    for i, sent in enumerate(fake.sent):  # never more than 5 in any second
        window = [s for s in fake.sent[i:] if s.at - sent.at < timedelta(seconds=1)]
        assert len(window) <= 5


async def test_an_urgent_message_overtakes_a_backlog_already_waiting(app: App, fake: RecordingAdapter) -> None:
    fake.send_limit = SendLimit(20, 60.0)
    await queue(app, *(msg(f"digest {i}", Lane.DIGEST) for i in range(30)), prefix="d")
    await app.deliver()  # 20 go out, 10 wait for the rate
    await queue(app, msg("escalation", Lane.URGENT), prefix="u")
    await app.advance(MINUTE)
    assert fake.texts[20] == "escalation"


async def test_a_platform_rate_limit_answer_holds_the_whole_channel(app: App, fake: RecordingAdapter) -> None:
    fake.send_limit = SendLimit(20, 60.0)
    fake.failures = [DeliveryError("errcode 130101 send too fast", retryable=True, retry_after=600)]  # a 10 min block
    await queue(app, *(msg(f"u{i}", Lane.URGENT) for i in range(20)))  # urgent: this chat is tried first
    await queue(app, msg("elsewhere", Lane.DIGEST, "c2"), prefix="o")
    await app.advance(timedelta(minutes=9, seconds=59))
    assert fake.texts == ["elsewhere"]  # the blocked chat waits; the other does not
    assert [r.attempts for r in await rows(app)][:20] == [1] + [0] * 19  # one attempt, no churn
    await app.advance(timedelta(seconds=1))
    assert fake.texts[1:] == [f"u{i}" for i in range(20)]  # in their order, when the block ends


# --- merging waiting replies ----------------------------------------------------------------------


async def test_waiting_replies_go_out_as_one_message_with_every_mention(app: App, fake: RecordingAdapter) -> None:
    fake.send_limit = SendLimit(2, 60.0)
    await queue(app, msg("first"), msg("second"), prefix="a")
    await app.deliver()  # the chat's rate is spent for a minute; the next replies wait together
    people = [User(f"fake:u{i}", f"u{i}") for i in range(4)]
    await queue(
        app,
        msg("#1 ack", mentions=(people[0],)),
        msg("#2 ack", mentions=(people[1], people[0])),
        msg("#3 urgent for all", mention_all=True),
        msg("#4 ack", mentions=(people[2], people[3])),
        prefix="b",
    )
    await app.advance(MINUTE)
    assert fake.texts[:2] == ["first", "second"]  # as many as could go at once: each on its own
    assert len(fake.sent) == 3
    merged = fake.sent[2].message
    assert merged.text == "#1 ack\n\n#2 ack\n\n#3 urgent for all\n\n#4 ack"
    assert merged.mentions == (people[0], people[1], people[2], people[3])
    assert merged.mention_all
    assert {r.state for r in await rows(app)} == {"sent"}


async def test_merged_messages_stay_within_the_platform_size_limit(app: App, fake: RecordingAdapter) -> None:
    fake.send_limit = SendLimit(2, 60.0)
    fake.max_text_bytes = 100
    replies = [f"reply number {i:02d} ok" for i in range(20)]  # 18 bytes each
    await queue(app, *(msg(text) for text in replies))
    await app.advance(timedelta(minutes=2))
    assert all(len(t.encode()) <= 100 for t in fake.texts)
    assert "\n\n".join(fake.texts).split("\n\n") == replies  # every reply once, in order
    assert len(fake.sent) == 4  # five replies and four separators: 98 bytes


async def test_cards_and_digests_are_never_merged(app: App, fake: RecordingAdapter) -> None:
    fake.send_limit = SendLimit(1, 60.0)
    await queue(app, msg("a"), msg("card", buttons=(Button("ack", 1),)), msg("b"), msg("digest", Lane.DIGEST))
    await app.advance(timedelta(minutes=5))
    assert fake.texts == ["a", "card", "b", "digest"]


async def test_a_merged_send_retried_keeps_its_idempotency_key(app: App, fake: RecordingAdapter) -> None:
    fake.send_limit = SendLimit(1, 60.0)
    fake.failures = [DeliveryError("HTTP 502", retryable=True)]
    await queue(app, msg("one"), msg("two"))
    await app.advance(MINUTE)
    failed, retried = fake.attempts
    assert failed.text == retried.text == "one\n\ntwo"
    assert failed.idempotency_key.startswith("merged:")
    assert retried.idempotency_key == failed.idempotency_key  # a platform that de-duplicates posts it once
    assert {r.state for r in await rows(app)} == {"sent"}


# --- splitting --------------------------------------------------------------------------------


async def test_an_over_long_message_is_sent_in_parts_in_order(app: App, fake: RecordingAdapter) -> None:
    fake.max_text_bytes = 100
    lines = [f"第{i}行：一些需要说明的内容" for i in range(12)]
    bob = User("fake:bob", "bob")
    await queue(app, msg("\n".join(lines), mentions=(bob,), mention_all=True, buttons=(Button("ack", 3),)))
    await app.advance(timedelta(seconds=1))
    assert len(fake.sent) > 1
    assert "\n".join(fake.texts) == "\n".join(lines)
    assert all(len(t.encode()) <= 100 for t in fake.texts)
    first, last = fake.sent[0].message, fake.sent[-1].message
    assert (first.mentions, first.mention_all, first.buttons) == ((bob,), True, ())
    assert (last.mentions, last.mention_all, last.buttons) == ((), False, (Button("ack", 3),))
    keys = [r.key for r in await rows(app)]
    assert keys == ["m0", *[f"m0#{i}" for i in range(1, len(fake.sent) + 1)]]
    assert (await rows(app))[0].state == "split"


def test_a_single_line_longer_than_the_limit_is_cut_on_characters() -> None:
    parts = split_message(msg("风" * 100), 30)
    assert ["".join(p.text for p in parts)] == ["风" * 100]
    assert all(len(p.text.encode()) <= 30 for p in parts)


# --- crash windows, claims and several workers ----------------------------------------------------


async def test_a_crash_after_the_platform_accepted_resends_with_the_same_key(
    make_app: Any, fake: RecordingAdapter, clock: ManualClock
) -> None:
    app = await make_app(adapters={"fake": fake})
    await queue(app, msg("escalation", Lane.URGENT), prefix="esc:1:0:respond:")
    fake.crash_after_send = True
    with contextlib.suppress(Crash):
        await app.deliver()  # the platform has it; the "sent" mark never reached the database
    fake.crash_after_send = False
    (row,) = await rows(app)
    assert row.state == "sending"

    restarted = await make_app(adapters={"fake": fake})
    await restarted.advance(CLAIM_TTL - timedelta(seconds=1))
    assert len(fake.sent) == 1  # the claim has not lapsed yet
    await restarted.advance(timedelta(seconds=1))
    assert [s.message.idempotency_key for s in fake.sent] == ["esc:1:0:respond:0", "esc:1:0:respond:0"]
    (row,) = await rows(restarted)
    assert row.state == "sent"


async def test_a_slow_send_hands_back_what_its_claim_no_longer_covers(app: App, fake: RecordingAdapter) -> None:
    fake.unlimited = True  # a channel without a rate: one claim takes several messages
    fake.cost = timedelta(seconds=30)  # a slow platform, and no renewal in this pass
    await queue(app, *(msg(f"m{i}", Lane.DIGEST) for i in range(6)))
    await app.deliver()
    assert fake.texts == [f"m{i}" for i in range(6)]  # each once, in order
    assert {r.state for r in await rows(app)} == {"sent"}
    handed_back = [r for r in await rows(app) if r.last_error == "claim ran out before sending"]
    assert handed_back and all(r.attempts == 1 for r in handed_back)


def claim_args(clock: ManualClock, batch: int = 10, rate: SendLimit | None = None) -> dict[str, Any]:
    """A claim of up to ``batch`` items, or as many as ``rate`` allows now, one a send."""
    return {"until": clock.now() + CLAIM_TTL, "rate": rate, "batch": batch, "plan": one_each}


def one_each(items: Any, sends: int) -> tuple[int, int]:
    taken = min(len(items), sends)
    return taken, taken


async def test_a_live_worker_keeps_its_claim_and_a_dead_one_loses_it_in_seconds(app: App, clock: ManualClock) -> None:
    await queue(app, msg("hello"))
    live, other = SqlOutbox(app.db, "live"), SqlOutbox(app.db, "other")
    (item,) = await live.claim(C1, clock.now(), **claim_args(clock))
    for _ in range(5):  # a worker renews every third of the claim while it works
        clock.advance(CLAIM_TTL / 3)
        assert await live.renew(clock.now() + CLAIM_TTL) == 1
        assert await other.take_over(clock.now()) == []
    (row,) = await rows(app)
    assert (row.state, row.claimed_by) == ("sending", "live")
    clock.advance(CLAIM_TTL)  # the worker died: nothing renews its claim
    (taken,) = await other.take_over(clock.now())
    assert taken.key == C1
    (again,) = await other.claim(C1, clock.now(), **claim_args(clock))
    assert again.id == item.id


async def test_the_urgent_lane_is_taken_over_first(make_app: Any, fake: RecordingAdapter, clock: ManualClock) -> None:
    app = await make_app(adapters={"fake": fake})
    await queue(app, msg("digest", Lane.DIGEST, "c1"), msg("reply", Lane.REPLY, "c2"), msg("ping", Lane.URGENT, "c3"))
    dead = SqlOutbox(app.db, "dead")
    for chat in ("c1", "c2", "c3"):
        await dead.claim(ChannelKey("fake", chat), clock.now(), **claim_args(clock))
    clock.advance(CLAIM_TTL)
    await app.deliver()
    assert fake.texts == ["ping", "reply", "digest"]


async def test_a_worker_whose_claim_lapsed_cannot_overwrite_the_new_holder(app: App, clock: ManualClock) -> None:
    await queue(app, msg("hello"))
    slow, fast = SqlOutbox(app.db, "slow"), SqlOutbox(app.db, "fast")
    (stale,) = await slow.claim(C1, clock.now(), **claim_args(clock))
    clock.advance(CLAIM_TTL + timedelta(seconds=1))
    await fast.take_over(clock.now())
    (item,) = await fast.claim(C1, clock.now(), **claim_args(clock))
    await fast.sent([item], clock.now())
    await slow.retry(stale, clock.now(), "late failure")  # the slow worker wakes up
    await slow.sent([stale], clock.now())
    (row,) = await rows(app)
    assert (row.state, row.claimed_by, row.last_error, row.attempts) == ("sent", "fast", "", 1)


async def test_two_workers_never_take_the_same_message(make_app: Any, clock: ManualClock) -> None:
    app = await make_app()
    await queue(app, *(msg(f"m{i}") for i in range(40)))
    stores = [SqlOutbox(app.db, f"w{i}") for i in range(4)]
    claims = await asyncio.gather(*(s.claim(C1, clock.now(), **claim_args(clock, 15)) for s in stores))
    ids = [item.id for batch in claims for item in batch]
    assert len(ids) == len(set(ids)) == 40


async def test_workers_share_one_rate_per_channel(make_app: Any, clock: ManualClock) -> None:
    app = await make_app()
    await queue(app, *(msg(f"m{i}", Lane.DIGEST) for i in range(10)))
    stores = [SqlOutbox(app.db, f"w{i}") for i in range(3)]
    rate = SendLimit(2, 3.0)
    claims = await asyncio.gather(*(s.claim(C1, clock.now(), **claim_args(clock, rate=rate)) for s in stores))
    assert sum(len(batch) for batch in claims) == 2  # the window's two sends, whichever worker makes them
    clock.advance(timedelta(seconds=2))
    assert [len(await s.claim(C1, clock.now(), **claim_args(clock, rate=rate))) for s in stores] == [0, 0, 0]
    clock.advance(window_of(rate) - timedelta(seconds=2))
    claims = await asyncio.gather(*(s.claim(C1, clock.now(), **claim_args(clock, rate=rate)) for s in stores))
    assert sum(len(batch) for batch in claims) == 2


# --- the running worker -----------------------------------------------------------------------------


async def until(predicate: Any, limit: float = 5.0) -> None:
    """Wait for the worker task (it runs on this loop) to reach a state; bounded."""
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - state changed by the worker task
            await asyncio.sleep(0.002)


async def test_a_waiting_backlog_is_not_rescanned_when_new_messages_arrive(
    app: App, fake: RecordingAdapter, clock: ManualClock
) -> None:
    fake.send_limit = SendLimit(20, 60.0)
    calls: dict[str, int] = {"claim": 0, "channels": 0}
    store = app.outbox

    def counted(name: str) -> Any:
        original = getattr(store, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return await original(*args, **kwargs)

        return call

    store.claim = counted("claim")  # type: ignore[method-assign]
    store.channels = counted("channels")  # type: ignore[method-assign]
    await queue(app, *(msg(f"d{i}", Lane.DIGEST) for i in range(200)), prefix="d")
    worker = asyncio.create_task(app.deliverer.run_forever(3600.0))
    try:
        await until(lambda: len(fake.sent) == 20)  # the minute's quota; 180 wait
        claims = calls["claim"]
        for i in range(50):  # more for the waiting chat: it cannot send sooner, nothing is claimed
            await queue(app, msg(f"more {i}", Lane.DIGEST), prefix=f"more{i}-")
            app.deliverer.wake()
            seen = calls["channels"]
            await until(lambda seen=seen: calls["channels"] > seen)
        assert calls["claim"] == claims and len(fake.sent) == 20
        await queue(app, msg("another chat", chat="c2"), prefix="o")
        app.deliverer.wake()
        await until(lambda: len(fake.sent) == 21)  # goes at once: no head-of-line blocking
        assert fake.texts[20] == "another chat"
        clock.advance(MINUTE)  # the first chat's next window
        app.deliverer.wake()
        await until(lambda: len(fake.sent) == 41)
        assert fake.texts[21] == "d20"
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


async def test_the_running_worker_renews_its_claims_while_a_send_takes_long(
    make_app: Any, fake: RecordingAdapter, clock: ManualClock
) -> None:
    release = asyncio.Event()

    class Slow(RecordingAdapter):
        async def send(self, message: OutboundMessage) -> None:
            await release.wait()
            await super().send(message)

    slow = Slow(clock)
    app = await make_app(adapters={"fake": slow}, **{"delivery.claim_ttl": "3s"})
    await queue(app, msg("slow one"))
    worker = asyncio.create_task(app.deliverer.run_forever(3600.0))
    try:
        await until(lambda: app.deliverer._held == 1)
        (row,) = await rows(app)
        first = row.claimed_until
        assert first is not None
        clock.advance(timedelta(seconds=2))
        await until(lambda: app.deliverer._renewed_until is not None, limit=3.0)  # every second (3s / 3)
        (row,) = await rows(app)
        assert row.claimed_until is not None and row.claimed_until > first
        release.set()
        await until(lambda: len(slow.sent) == 1)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


# --- over real loopback HTTP ------------------------------------------------------------------


@dataclass
class StandInPlatform:
    """A chat platform on a loopback port: posts messages, de-duplicates on ``uuid`` like Feishu,
    and fails as scripted (status, headers) before answering normally."""

    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    posted: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    seen: set[str] = field(default_factory=set)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.json()
        if self.script:
            status, headers = self.script.pop(0)
            return web.json_response({"code": status}, status=status, headers=headers)
        if body["uuid"] not in self.seen:
            self.seen.add(body["uuid"])
            self.posted.append(body)
        return web.json_response({"code": 0})


class HttpAdapter(Adapter):
    platform = "fake"
    send_limit = SendLimit(5, 1.0)

    def __init__(self, url: str) -> None:
        self.url = url
        self.crash_after_send = False

    async def send(self, message: OutboundMessage) -> None:
        payload = {"chat": message.chat_id, "text": message.text, "uuid": message.idempotency_key}
        try:
            async with aiohttp.ClientSession() as session, session.post(self.url, json=payload) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"network error {type(exc).__name__}", retryable=True) from None
        if status == 429:
            raise DeliveryError("rate limited", retryable=True, retry_after=float(retry_after or 1))
        if status >= 500:
            raise DeliveryError(f"HTTP {status}", retryable=True)
        if status != 200:
            raise DeliveryError(f"HTTP {status}", retryable=False)
        if self.crash_after_send:
            raise Crash


@pytest.fixture
async def platform() -> AsyncIterator[tuple[StandInPlatform, str]]:
    standin = StandInPlatform()
    application = web.Application()
    application.router.add_post("/send", standin.handle)
    server = TestServer(application, host="127.0.0.1")
    await server.start_server()
    yield standin, str(server.make_url("/send"))
    await server.close()


async def test_over_http_5xx_then_429_then_success_posts_once(
    make_app: Any, platform: tuple[StandInPlatform, str]
) -> None:
    standin, url = platform
    standin.script = [(500, {}), (429, {"Retry-After": "20"})]
    app = await make_app(adapters={"fake": HttpAdapter(url)})
    await queue(app, msg("库存低，请处理"))
    await app.deliver()
    await app.advance(timedelta(seconds=2))
    (row,) = await rows(app)
    assert (row.state, row.last_error) == ("pending", "rate limited")
    await app.advance(timedelta(seconds=19))
    assert standin.posted == []
    await app.advance(timedelta(seconds=1))
    assert [p["text"] for p in standin.posted] == ["库存低，请处理"]
    assert standin.requests == 3


async def test_over_http_a_lost_sent_mark_does_not_post_twice_where_the_platform_dedupes(
    make_app: Any, platform: tuple[StandInPlatform, str]
) -> None:
    standin, url = platform
    adapter = HttpAdapter(url)
    app = await make_app(adapters={"fake": adapter})
    await queue(app, msg("⚠️ #3 overdue", Lane.URGENT), prefix="esc:3:0:resolve:")
    adapter.crash_after_send = True
    with contextlib.suppress(Crash):
        await app.deliver()
    adapter.crash_after_send = False
    restarted = await make_app(adapters={"fake": adapter})
    await restarted.advance(CLAIM_TTL + timedelta(seconds=1))
    assert standin.requests == 2  # sent again after the claim lapsed …
    assert [p["text"] for p in standin.posted] == ["⚠️ #3 overdue"]  # … and posted once
    assert [r.state for r in await rows(restarted)] == ["sent"]


def test_outbox_item_carries_its_claim() -> None:
    item = OutboxItem(1, "k", 1, 0, msg("x"))
    assert item.claimed_until is None
