"""Fail-over in seconds: three ``hubao serve`` processes on one PostgreSQL database, Feishu on
HTTP callbacks against a stand-in Feishu API (5 messages/s per chat, de-duplication by ``uuid``
as Feishu does, a slow answer so that sending takes a while).

Risks in 100 groups fall due at once and the instances share the sending. While they send the
pings, the one that has sent the most is killed with SIGKILL. Every due ping must reach the platform within 20 s of the
kill, none lost and none shown twice; the figures (delivered within 5 s / 20 s of the kill, lost,
shown twice, each instance's share of the sending) are printed for docs/deploy.md.

A second test kills an instance in the middle of an escalation sweep (its claims are row locks
of an open transaction) and shows the steps and timers are taken over by a live instance at its
next sweep, each exactly once.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web

from hubao.adapters.feishu.adapter import idempotency_key
from hubao.app import App, read_config
from hubao.bot.clock import ManualClock, SystemClock
from hubao.bot.events import InboundEvent, OutboundMessage, User
from tests.adapters.feishu.standin import (
    APP_ID,
    APP_SECRET,
    BOT_NAME,
    BOT_OPEN_ID,
    ENCRYPT_KEY,
    VERIFICATION_TOKEN,
    FeishuStandIn,
)
from tests.harness import fresh_database, postgres_url
from tests.serving import START_TIMEOUT, ServeProcess, free_port

pytestmark = pytest.mark.skipif(not postgres_url(), reason="several instances need PostgreSQL")

GROUPS = 100
INSTANCES = 3
SEND_SECONDS = 0.3  # how long the stand-in takes to answer a send: the instances are busy a while


class SharedFeishu(FeishuStandIn):
    """One Feishu for every instance; each instance calls it under its own path prefix
    (``api_base = URL/i<n>``), so the test knows who sent what."""

    def __init__(self) -> None:
        super().__init__(SystemClock())  # type: ignore[arg-type]  # real time: the rate window slides
        self.posts: list[tuple[float, str, str, str]] = []  # (monotonic, instance, chat, uuid)
        router = self.server.app.router
        router.add_post("/{instance}/open-apis/auth/v3/tenant_access_token/internal", self._token)
        router.add_post("/{instance}/open-apis/im/v1/messages", self._timed_create)

    async def _timed_create(self, request: web.Request) -> web.Response:
        await asyncio.sleep(SEND_SECONDS)
        before = len(self.sent)
        response = await self._create(request)
        for sent in self.sent[before:]:
            self.posts.append((time.monotonic(), request.match_info["instance"], sent.chat_id, sent.uuid))
        return response


def _config(tmp: Path, db_url: str, api_base: str, port: int) -> Path:
    path = tmp / f"hubao-{port}.toml"
    path.write_text(
        f'[storage]\nurl = "{db_url}"\n\n[server]\nhost = "127.0.0.1"\nport = {port}\n\n'
        '[escalation]\nsweep_interval = "2s"\n\n'
        '[feishu]\nenabled = true\ntransport = "http"\n'
        f'app_id = "{APP_ID}"\napp_secret = "{APP_SECRET}"\nencrypt_key = "{ENCRYPT_KEY}"\n'
        f'verification_token = "{VERIFICATION_TOKEN}"\nbot_open_id = "{BOT_OPEN_ID}"\nbot_name = "{BOT_NAME}"\n'
        f'api_base = "{api_base}"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
async def pg_url(tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database("postgres", tmp_path) as url:
        yield url


async def _seed(db_url: str, groups: int, risks_per_group: int) -> None:
    """Groups with risks reported 61 minutes ago: each one's first escalation step is due now."""
    clock = ManualClock(datetime.now(UTC) - timedelta(minutes=61))
    app = App(read_config(None, environ={}, overrides={"storage.url": db_url}), clock=clock, instance_id="seed")
    await app.start()  # migrates the database once, before the instances start together
    try:
        for g in range(groups):
            chat = f"oc_group{g:03d}"
            await app.register_group("feishu", chat, f"第{g}组", leader=User(f"feishu:ou_lead{g}", f"组长{g}"))
            for n in range(risks_per_group):
                reporter = User(f"feishu:ou_member{g}", f"组员{g}")
                await app.dispatch(InboundEvent("feishu", chat, reporter, f"/risk 库存风险{n} !高", f"seed-{g}-{n}",
                                                clock.now()))  # fmt: skip
        async with app.db.transaction() as session:  # the replies to /risk went out long ago
            from sqlalchemy import text

            await session.exec(text("UPDATE outbox SET state = 'sent'"))  # type: ignore[call-overload]
    finally:
        await app.close()


async def _pings(db_url: str) -> tuple[dict[str, str], int]:
    """Every escalation message queued so far (outbox key → the uuid Feishu sees for it), and
    how many of them the outbox still holds unsent (pending, or claimed by a worker)."""
    plain, _, schema = db_url.replace("postgresql+asyncpg://", "postgresql://").partition("?schema=")
    connection = await asyncpg.connect(plain, server_settings={"search_path": schema})
    try:
        rows = await connection.fetch("SELECT key, payload, state FROM outbox WHERE lane = 0")
    finally:
        await connection.close()
    found = {}
    for row in rows:
        message = OutboundMessage.from_json(json.loads(row["payload"]))
        found[row["key"]] = idempotency_key(replace(message, idempotency_key=row["key"]))
    return found, sum(1 for row in rows if row["state"] != "sent")


async def _cluster(tmp: Path, db_url: str, feishu: SharedFeishu) -> list[ServeProcess]:
    servers = []
    for i in range(INSTANCES):
        port = free_port()
        servers.append(ServeProcess(_config(tmp, db_url, f"{feishu.url}/i{i}", port), port, f"i{i}"))
    for server in servers:
        await server.start()
    await asyncio.gather(*(server.healthy() for server in servers))
    return servers


async def test_a_sending_instance_killed_mid_batch_every_ping_arrives_within_20s_once(
    tmp_path: Path, pg_url: str
) -> None:
    await _seed(pg_url, GROUPS, 1)
    feishu = SharedFeishu()
    await feishu.start()
    servers = await _cluster(tmp_path, pg_url, feishu)
    try:
        async with asyncio.timeout(30):  # the sweeps queue the pings; sending is under way
            while len(feishu.posts) < 15:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        share = Counter(instance for _, instance, _, _ in feishu.posts)
        victim = next(s for s in servers if s.name == share.most_common(1)[0][0])
        victim.kill()
        killed_at = time.monotonic()
        before_kill = {uuid for _, _, _, uuid in feishu.posts}

        expected: dict[str, str] = {}
        async with asyncio.timeout(25):
            while True:  # until the platform shows every ping and the outbox has marked each sent
                expected, unsent = await _pings(pg_url)
                posted = {uuid for _, _, _, uuid in feishu.posts}
                if len(expected) >= GROUPS and set(expected.values()) <= posted and not unsent:
                    break
                await asyncio.sleep(0.1)
        settled_s = time.monotonic() - killed_at

        first_post = {}
        for at, _instance, _chat, uuid in feishu.posts:
            first_post.setdefault(uuid, at)
        outstanding = [uuid for uuid in expected.values() if uuid not in before_kill]
        delays = sorted(first_post[uuid] - killed_at for uuid in outstanding)
        shown = Counter(uuid for _, _, _, uuid in feishu.posts)  # the stand-in posts a uuid once
        per_chat = Counter(chat for _, _, chat, _ in feishu.posts)
        figures = {
            "pings": len(expected),
            "sent_before_kill": len(set(expected.values()) & before_kill),
            "outstanding_at_kill": len(outstanding),
            "within_5s": sum(1 for d in delays if d <= 5),
            "within_20s": sum(1 for d in delays if d <= 20),
            "last_after_kill_s": round(delays[-1], 1) if delays else 0.0,
            "outbox_all_sent_after_kill_s": round(settled_s, 1),  # the dead instance's claims taken over
            "lost": len(set(expected.values()) - set(first_post)),
            "shown_twice": sum(1 for n in shown.values() if n > 1),
            "share_per_instance": dict(Counter(instance for _, instance, _, _ in feishu.posts)),
            "killed": victim.name,
        }
        print("FAILOVER", json.dumps(figures))
        assert figures["lost"] == 0 and figures["shown_twice"] == 0
        assert figures["within_20s"] == len(outstanding) and settled_s <= 20
        assert len(per_chat) == GROUPS  # every group got its ping
        assert len(figures["share_per_instance"]) == INSTANCES  # the sending was spread
    finally:
        for server in servers:
            await server.stop()
        await feishu.close()


async def test_sending_spreads_over_the_live_instances(tmp_path: Path, pg_url: str) -> None:
    await _seed(pg_url, GROUPS, 1)
    feishu = SharedFeishu()
    await feishu.start()
    servers = await _cluster(tmp_path, pg_url, feishu)
    try:
        async with asyncio.timeout(30):
            while len({chat for _, _, chat, _ in feishu.posts}) < GROUPS:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        share = Counter(instance for _, instance, _, _ in feishu.posts)
        print("SHARE", json.dumps({"groups": GROUPS, "pings": len(feishu.posts), "share_per_instance": dict(share)}))
        assert len(share) == INSTANCES and min(share.values()) >= len(feishu.posts) // 10
    finally:
        for server in servers:
            await server.stop()
        await feishu.close()


async def test_an_instance_killed_mid_sweep_leaves_its_steps_to_the_next_sweep_of_another(
    tmp_path: Path, pg_url: str
) -> None:
    """The sweep claims risks and timers with FOR UPDATE SKIP LOCKED inside one transaction: a
    killed instance's claims are the locks of its connection, which PostgreSQL drops with it."""
    due, meetings = 1000, 50  # enough for the first sweep to take a moment
    await _seed_many(pg_url, due, meetings)
    feishu = SharedFeishu()
    await feishu.start()
    port = free_port()
    first = ServeProcess(_config(tmp_path, pg_url, f"{feishu.url}/i0", port), port, "i0")
    plain, _, schema = pg_url.replace("postgresql+asyncpg://", "postgresql://").partition("?schema=")
    watcher = await asyncpg.connect(plain, server_settings={"search_path": schema})
    survivor: ServeProcess | None = None
    try:
        await first.start()
        async with asyncio.timeout(START_TIMEOUT):  # until its sweep holds row locks (its claims)
            while not await watcher.fetchval(  # noqa: ASYNC110 - another process's state
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname IN ('risks', 'timers') AND l.mode = 'RowShareLock' AND l.pid <> pg_backend_pid()"
            ):
                await asyncio.sleep(0.005)
        first.kill()
        killed_at = time.monotonic()
        assert first.process is not None and await first.process.wait() == -signal.SIGKILL
        escalated_before = await watcher.fetchval("SELECT count(*) FROM risk_events WHERE kind = 'escalated'")
        closed_before = await watcher.fetchval("SELECT count(*) FROM meetings WHERE ended_at IS NOT NULL")
        assert escalated_before < due or closed_before < meetings, "the kill came after the sweep committed"
        port = free_port()
        survivor = ServeProcess(_config(tmp_path, pg_url, f"{feishu.url}/i1", port), port, "i1")
        await survivor.start()
        started_at = time.monotonic()
        async with asyncio.timeout(START_TIMEOUT):
            while (  # noqa: ASYNC110 - another process's state
                await watcher.fetchval("SELECT count(*) FROM risk_events WHERE kind = 'escalated'") < due
                or await watcher.fetchval("SELECT count(*) FROM meetings WHERE ended_at IS NULL") > 0
            ):
                await asyncio.sleep(0.1)
        taken_over_s, after_start_s = time.monotonic() - killed_at, time.monotonic() - started_at
        per_risk = await watcher.fetch(
            "SELECT risk_id, count(*) AS n FROM risk_events WHERE kind = 'escalated' GROUP BY risk_id"
        )
        assert len(per_risk) == due and all(row["n"] == 1 for row in per_risk)  # each step exactly once
        digests = await watcher.fetchval("SELECT count(*) FROM outbox WHERE key LIKE 'timer:meeting:%'")
        assert digests == meetings  # each open meeting closed once, its digest queued once
        assert await watcher.fetchval("SELECT count(*) FROM timers WHERE kind = 'meeting.close'") == 0
        print("SWEEP_TAKEOVER", json.dumps({"due": due, "before_kill": escalated_before, "meetings": meetings,
                                            "meetings_closed_before_kill": closed_before,
                                            "all_done_after_kill_s": round(taken_over_s, 1),
                                            "after_the_survivor_started_s": round(after_start_s, 1)}))  # fmt: skip
    finally:
        await watcher.close()
        await first.stop()
        if survivor is not None:
            await survivor.stop()
        await feishu.close()


async def test_a_running_instance_takes_over_the_sweep_of_one_killed_mid_sweep(tmp_path: Path, pg_url: str) -> None:
    """Two instances run when a thousand escalation steps fall due; the one whose sweep holds the
    row locks is killed with SIGKILL; the other, already running, performs every step left at its
    next sweep — each exactly once."""
    due, lead_time = 1000, 8.0
    await _seed_many(pg_url, due, 0, due_in=lead_time)  # due a few seconds from now: both run by then
    feishu = SharedFeishu()
    await feishu.start()
    plain, _, schema = pg_url.replace("postgresql+asyncpg://", "postgresql://").partition("?schema=")
    watcher = await asyncpg.connect(plain, server_settings={"search_path": schema})
    servers: list[ServeProcess] = []
    try:
        for name in ("i0", "i1"):
            port = free_port()
            servers.append(ServeProcess(_config(tmp_path, pg_url, f"{feishu.url}/{name}", port), port, name))
        for server in servers:
            await server.start()
        await asyncio.gather(*(server.healthy() for server in servers))
        by_pid = {server.process.pid: server for server in servers if server.process is not None}
        holder: ServeProcess | None = None
        async with asyncio.timeout(START_TIMEOUT + lead_time):  # until one sweep holds row locks
            while holder is None:
                names = await watcher.fetch(  # instances name their sessions "hubao <host>-<pid>"
                    "SELECT DISTINCT a.application_name FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "JOIN pg_stat_activity a ON a.pid = l.pid WHERE c.relname = 'risks' AND l.mode = 'RowShareLock' "
                    "AND a.application_name LIKE 'hubao %'"
                )
                tails = [str(row["application_name"]).rsplit("-", 1)[-1] for row in names]  # others' sessions too
                holders = [by_pid.get(int(tail)) for tail in tails if tail.isdigit()]
                holder = next((h for h in holders if h is not None), None)
                await asyncio.sleep(0.005)
        holder.kill()
        killed_at = time.monotonic()
        await holder.wait_dead()
        done_before = await watcher.fetchval("SELECT count(*) FROM risk_events WHERE kind = 'escalated'")
        assert done_before < due, "the kill came after the sweep committed"
        async with asyncio.timeout(START_TIMEOUT):
            while await watcher.fetchval("SELECT count(*) FROM risk_events WHERE kind = 'escalated'") < due:  # noqa: ASYNC110
                await asyncio.sleep(0.1)  # another process's state: nothing to wait on but the database
        taken_over_s = time.monotonic() - killed_at
        per_risk = await watcher.fetch(
            "SELECT risk_id, count(*) AS n FROM risk_events WHERE kind = 'escalated' GROUP BY risk_id"
        )
        assert len(per_risk) == due and all(row["n"] == 1 for row in per_risk)
        assert taken_over_s < 20  # the survivor sweeps every 2 s here
        print("RUNNING_SWEEP_TAKEOVER", json.dumps({"due": due, "before_kill": done_before,
                                                    "all_done_after_kill_s": round(taken_over_s, 1)}))  # fmt: skip
    finally:
        await watcher.close()
        for server in servers:
            await server.stop()
        await feishu.close()


async def _seed_many(db_url: str, risks: int, meetings: int, *, due_in: float = -60.0) -> None:
    """Many risks in one group, their first escalation step due ``due_in`` seconds from now (by
    default a minute ago), and meetings left open in others (4 hours old): their auto-close
    timers are due now."""
    await _seed(db_url, max(meetings, 1), 0)
    opened = ManualClock(datetime.now(UTC) - timedelta(hours=4))
    app = App(read_config(None, environ={}, overrides={"storage.url": db_url}), clock=opened, instance_id="seed")
    await app.start()
    try:
        for g in range(meetings):
            lead = User(f"feishu:ou_lead{g}", f"组长{g}")
            await app.dispatch(InboundEvent("feishu", f"oc_group{g:03d}", lead, "/meeting start 周会", f"meeting-{g}",
                                            opened.now()))  # fmt: skip
    finally:
        await app.close()
    clock = ManualClock(datetime.now(UTC) - timedelta(hours=1) + timedelta(seconds=due_in))
    app = App(read_config(None, environ={}, overrides={"storage.url": db_url}), clock=clock, instance_id="seed")
    await app.start()
    try:
        reporter = User("feishu:ou_member0", "组员0")
        for n in range(risks):
            await app.dispatch(InboundEvent("feishu", "oc_group000", reporter, f"/risk 风险{n}", f"many-{n}",
                                            clock.now()))  # fmt: skip
        async with app.db.transaction() as session:
            from sqlalchemy import text

            await session.exec(text("UPDATE outbox SET state = 'sent'"))  # type: ignore[call-overload]
    finally:
        await app.close()
