"""The durable outbox: retries, rate limits, lanes, splitting, dead letters, crash windows.

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
from hubao.bot.delivery import OutboxItem, RetryPolicy, split_message
from hubao.bot.events import Button, Lane, OutboundMessage, User
from hubao.storage import repo
from hubao.storage.models import Outbox
from hubao.storage.outbox import CLAIM_TTL, SqlOutbox


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
    sent: list[Sent] = field(default_factory=list)

    async def send(self, message: OutboundMessage) -> None:
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


# --- rate limits and lanes --------------------------------------------------------------------


async def test_token_bucket_per_chat_holds_the_platform_rate(app: App, fake: RecordingAdapter) -> None:
    fake.send_limit = SendLimit(20, 60.0)  # WeCom and DingTalk robots
    start = app.clock.now()
    await queue(app, *(msg(f"a{i}") for i in range(25)), *(msg(f"b{i}", chat="c2") for i in range(3)))
    await app.deliver()
    assert len([s for s in fake.sent if s.message.chat_id == "c1"]) == 20
    assert len([s for s in fake.sent if s.message.chat_id == "c2"]) == 3
    await app.advance(timedelta(minutes=1))
    later = [s.at - start for s in fake.sent if s.message.chat_id == "c1"][20:]
    assert later == [timedelta(minutes=1)] * 5  # never more than 20 in any minute
    assert {r.state for r in await rows(app)} == {"sent"}
    assert all(r.attempts == 1 for r in await rows(app))  # waiting for a token is not an attempt


async def test_config_rate_overrides_the_adapter_default(make_app: Any, fake: RecordingAdapter) -> None:
    app = await make_app(adapters={"fake": fake}, **{"delivery.rates": {"fake": "2/10s"}})
    start = app.clock.now()
    await queue(app, *(msg(f"m{i}") for i in range(4)))
    await app.advance(timedelta(seconds=30))
    assert [(s.at - start).total_seconds() for s in fake.sent] == [0, 0, 10, 10]


async def test_escalations_and_urgent_go_first_under_a_burst(app: App, fake: RecordingAdapter) -> None:
    fake.send_limit = SendLimit(5, 1.0)  # Feishu: 5/s per chat
    await queue(app, *(msg(f"digest {i}", Lane.DIGEST) for i in range(6)), prefix="d")
    await queue(app, *(msg(f"reply {i}", Lane.REPLY) for i in range(8)), prefix="r")
    await queue(app, *(msg(f"urgent {i}", Lane.URGENT) for i in range(3)), prefix="u")
    await app.advance(timedelta(seconds=5))
    lanes = [s.message.lane for s in fake.sent]
    assert len(lanes) == 17 and lanes == sorted(lanes)
    assert fake.texts[:3] == ["urgent 0", "urgent 1", "urgent 2"]
    assert fake.texts[3:11] == [f"reply {i}" for i in range(8)]  # each lane in its queue order
    for i, sent in enumerate(fake.sent):  # never more than 5 in any second
        window = [s for s in fake.sent[i:] if s.at - sent.at < timedelta(seconds=1)]
        assert len(window) <= 5


async def test_an_urgent_message_overtakes_a_backlog_already_waiting(app: App, fake: RecordingAdapter) -> None:
    fake.send_limit = SendLimit(20, 60.0)
    await queue(app, *(msg(f"reply {i}") for i in range(30)), prefix="r")
    await app.deliver()  # 20 go out, 10 wait for tokens
    await queue(app, msg("escalation", Lane.URGENT), prefix="u")
    await app.advance(timedelta(minutes=1))
    assert fake.texts[20] == "escalation"


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


# --- crash windows and several workers ---------------------------------------------------------


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


async def test_a_slow_batch_hands_back_what_its_claim_no_longer_covers(app: App, fake: RecordingAdapter) -> None:
    fake.cost = timedelta(seconds=30)  # a slow platform
    await queue(app, *(msg(f"m{i}") for i in range(6)))
    await app.deliver()
    assert fake.texts == [f"m{i}" for i in range(6)]  # each once, in order
    assert {r.state for r in await rows(app)} == {"sent"}
    handed_back = [r for r in await rows(app) if r.last_error == "claim ran out before sending"]
    assert handed_back and all(r.attempts == 1 for r in handed_back)


async def test_a_worker_whose_claim_lapsed_cannot_overwrite_the_new_holder(app: App, clock: ManualClock) -> None:
    await queue(app, msg("hello"))
    slow, fast = SqlOutbox(app.db, "slow"), SqlOutbox(app.db, "fast")
    (stale,) = await slow.claim(clock.now(), 10)
    clock.advance(CLAIM_TTL + timedelta(seconds=1))
    (item,) = await fast.claim(clock.now(), 10)
    await fast.sent(item, clock.now())
    await slow.retry(stale, clock.now(), "late failure")  # the slow worker wakes up
    (row,) = await rows(app)
    assert (row.state, row.claimed_by, row.last_error) == ("sent", "fast", "")


async def test_two_workers_never_take_the_same_message(make_app: Any, clock: ManualClock) -> None:
    app = await make_app()
    await queue(app, *(msg(f"m{i}") for i in range(40)))
    stores = [SqlOutbox(app.db, f"w{i}") for i in range(4)]
    claims = await asyncio.gather(*(s.claim(clock.now(), 15) for s in stores))
    ids = [item.id for batch in claims for item in batch]
    assert len(ids) == len(set(ids)) == 40


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
