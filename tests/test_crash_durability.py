"""Whatever a platform was told "received" survives ``kill -9``, and has exactly one effect.

For every platform and transport a real ``hubao serve`` (the CLI, with its delivery worker and
scheduler) gets a burst of ``/risk`` commands from a stand-in platform on loopback, is killed with
SIGKILL in the middle of it, and is started again on the same SQLite file. Then the stand-in does
what the platform does with what it never got an answer or ACK for: it sends it again. Every
command answered or ACKed before the kill has exactly one risk; after the redeliveries every
command has exactly one risk; none has two. WeCom's AI-bot long connection has no acknowledgement:
there every message that reached the database is processed exactly once after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hubao.app import App, read_config
from hubao.bot.clock import ManualClock
from hubao.bot.events import User
from tests.adapters.dingtalk.standin import CHAT as DINGTALK_CHAT
from tests.adapters.dingtalk.standin import StandIn as DingTalkStandIn
from tests.adapters.feishu.standin import (
    APP_ID,
    APP_SECRET,
    BOT_NAME,
    BOT_OPEN_ID,
    ENCRYPT_KEY,
    VERIFICATION_TOKEN,
    FeishuStandIn,
    message_event,
    signed_request,
)
from tests.adapters.wecom.standin import WeComStandIn
from tests.serving import START_TIMEOUT, ServeProcess, free_port

COMMANDS = 200
CONCURRENCY = 16
KILL_AFTER = 70  # answers (or ACKs) before the kill


def _toml(section: str, values: dict[str, Any]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"
        return json.dumps(str(v), ensure_ascii=False)

    return f"[{section}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in values.items())




@dataclass
class Drill:
    """One platform and transport: how its stand-in sends command ``n`` and what counts as answered."""

    platform: str
    chat: str
    settings: dict[str, Any]
    send: Callable[[ServeProcess, int], Awaitable[bool]]  # True: answered / ACKed
    connected: Callable[[int], Awaitable[None]] = lambda _n: asyncio.sleep(0)
    redeliver: Callable[[ServeProcess, list[int]], Awaitable[None]] | None = None  # what the platform sends again
    acknowledged: bool = True  # False: the transport has no answer to the platform at all
    answered: set[int] = field(default_factory=set)


def _text(n: int) -> str:
    return f"/risk 崩溃演练 burst-{n:03d}"


async def _wecom_http(standin: WeComStandIn) -> Drill:
    async def send(server: ServeProcess, n: int) -> bool:
        body = standin.message(f"@RiskBot {_text(n)}", msgid=f"burst-{n:03d}")
        response = await standin.post_callback(f"{server.url}/callback/wecom", body)
        return response.status == 200

    async def redeliver(server: ServeProcess, numbers: list[int]) -> None:
        await _in_parallel(numbers, lambda n: send(server, n))

    settings = {
        "enabled": True, "transport": "http", "bot_name": "RiskBot", "token": standin.token,
        "encoding_aes_key": standin.aes_key, "api_base": standin.base, "webhook_keys": {"rk1": "wrGroup1"},
    }  # fmt: skip
    return Drill("wecom", "wrGroup1", settings, send, redeliver=redeliver)


async def _wecom_ws(standin: WeComStandIn) -> Drill:
    async def send(_server: ServeProcess, n: int) -> bool:
        await standin.push(standin.message(f"@RiskBot {_text(n)}", msgid=f"burst-{n:03d}"))
        return False  # nothing comes back: this connection has no acknowledgement

    async def connected(count: int) -> None:
        await standin.wait_subscribed(count, limit=START_TIMEOUT)

    settings = {
        "enabled": True, "transport": "ws", "bot_name": "RiskBot", "bot_id": standin.bot_id,
        "secret": standin.secret, "ws_url": standin.ws_url, "api_base": standin.base,
        "webhook_keys": {"rk1": "wrGroup1"}, "heartbeat_interval": 0.5, "reconnect_min": 0.05,
        "reconnect_max": 0.2, "lease_ttl": 1.0, "kicked_backoff": 0.3,
    }  # fmt: skip
    return Drill("wecom", "wrGroup1", settings, send, connected=connected, acknowledged=False)


async def _dingtalk_http(standin: DingTalkStandIn) -> Drill:
    async def send(server: ServeProcess, n: int) -> bool:
        body = standin.robot_message(_text(n), msg_id=f"burst-{n:03d}")
        async with aiohttp.ClientSession() as http, http.post(
            f"{server.url}/callback/dingtalk", data=json.dumps(body), headers=standin.signed_headers()
        ) as response:
            await response.read()
            return response.status == 200

    async def redeliver(server: ServeProcess, numbers: list[int]) -> None:
        await _in_parallel(numbers, lambda n: send(server, n))

    return Drill("dingtalk", DINGTALK_CHAT, standin.settings(transport="http"), send, redeliver=redeliver)


async def _dingtalk_stream(standin: DingTalkStandIn) -> Drill:
    frames: dict[int, str] = {}

    async def send(_server: ServeProcess, n: int) -> bool:
        frames[n] = await standin.push_message(standin.robot_message(_text(n), msg_id=f"burst-{n:03d}"))
        with contextlib.suppress(TimeoutError):
            await standin.wait_acked(frames[n], within=5.0)
        return standin.frames[frames[n]].acked

    async def connected(count: int) -> None:
        await standin.wait_connected(count, within=START_TIMEOUT)

    async def redeliver(server: ServeProcess, numbers: list[int]) -> None:
        await standin.redeliver_unacked()  # DingTalk's own redelivery of what was never ACKed
        for n in numbers:
            if n in frames:
                await standin.wait_acked(frames[n], within=20.0)
        await _in_parallel([n for n in numbers if n not in frames], lambda n: send(server, n))  # not sent yet

    settings = standin.settings(transport="stream", keepalive=5.0, ping_interval=1.0, reconnect_max=0.5)
    return Drill("dingtalk", DINGTALK_CHAT, settings, send, connected=connected, redeliver=redeliver)


def _feishu_settings(standin: FeishuStandIn, transport: str) -> dict[str, Any]:
    return {
        "enabled": True, "transport": transport, "app_id": APP_ID, "app_secret": APP_SECRET,
        "encrypt_key": ENCRYPT_KEY, "verification_token": VERIFICATION_TOKEN, "bot_open_id": BOT_OPEN_ID,
        "bot_name": BOT_NAME, "api_base": standin.url, "ws_endpoint_url": standin.url + "/callback/ws/endpoint",
        "ws_ping_interval": 1.0, "ws_reconnect_interval": 0.1, "ws_reconnect_nonce": 0.0,
    }  # fmt: skip


def _feishu_event(n: int) -> dict[str, Any]:
    mentions = {"@_user_1": (BOT_OPEN_ID, BOT_NAME)}
    # Senders the bot knows by name are processed before the answer; a new one is stored, answered,
    # then named through the contact API and processed: both ways are in the burst.
    return message_event("oc_burst", f"ou_member{n % 23}", f"@_user_1 {_text(n)}", mentions,
                         event_id=f"burst-{n:03d}")  # fmt: skip


async def _feishu_http(standin: FeishuStandIn, clock: ManualClock) -> Drill:
    async def send(server: ServeProcess, n: int) -> bool:
        body, headers = signed_request(_feishu_event(n), clock=clock)
        async with aiohttp.ClientSession() as http, http.post(
            f"{server.url}/callback/feishu", data=body, headers=headers
        ) as response:
            await response.read()
            return response.status == 200

    async def redeliver(server: ServeProcess, numbers: list[int]) -> None:
        await _in_parallel(numbers, lambda n: send(server, n))

    return Drill("feishu", "oc_burst", _feishu_settings(standin, "http"), send, redeliver=redeliver)


async def _feishu_long_connection(standin: FeishuStandIn) -> Drill:
    async def send(_server: ServeProcess, n: int) -> bool:
        try:
            _, _, code = await standin.push(_feishu_event(n), wait=5)
        except (TimeoutError, ConnectionError, RuntimeError, IndexError):
            return False
        return bool(code == 200)

    async def connected(_count: int) -> None:
        await asyncio.wait_for(standin.connected.wait(), START_TIMEOUT)

    async def redeliver(server: ServeProcess, numbers: list[int]) -> None:
        await _in_parallel(numbers, lambda n: send(server, n))

    return Drill("feishu", "oc_burst", _feishu_settings(standin, "long_connection"), send,
                 connected=connected, redeliver=redeliver)  # fmt: skip


async def _in_parallel(numbers: list[int], send: Callable[[int], Awaitable[bool]]) -> set[int]:
    """Send at ``CONCURRENCY``; the numbers that were answered. Failures (the server died) count as unanswered."""
    answered: set[int] = set()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in numbers:
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            with contextlib.suppress(aiohttp.ClientError, ConnectionError, TimeoutError, AssertionError):
                if await send(n):
                    answered.add(n)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return answered


def _risks_by_command(db: Path) -> Counter[int]:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        rows = connection.execute("SELECT content FROM risks").fetchall()
    found: Counter[int] = Counter()
    for (content,) in rows:
        if match := re.search(r"burst-(\d{3})", content):
            found[int(match.group(1))] += 1
    return found


def _stored(db: Path) -> tuple[set[int], int]:
    """Commands with a de-duplication row, and how many rows still wait to be processed."""
    with contextlib.closing(sqlite3.connect(db)) as connection:
        rows = connection.execute("SELECT key, state FROM seen_deliveries").fetchall()
    keys = {int(m.group(1)) for key, _ in rows if (m := re.search(r"burst-(\d{3})", key))}
    return keys, sum(1 for _, state in rows if state == "pending")


async def _settled(db: Path) -> None:
    """Until nothing waits to be processed and the risks stop changing."""
    previous: Counter[int] | None = None
    async with asyncio.timeout(60):
        while True:
            await asyncio.sleep(0.3)
            current = _risks_by_command(db)
            if _stored(db)[1] == 0 and current == previous:
                return
            previous = current


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    clock = ManualClock(datetime.now(UTC))  # the stand-ins sign with real time: the server checks it
    wecom, dingtalk, feishu = WeComStandIn(clock), DingTalkStandIn(clock), FeishuStandIn(clock)
    for standin in (wecom, dingtalk, feishu):
        await standin.start()
    yield {"clock": clock, "wecom": wecom, "dingtalk": dingtalk, "feishu": feishu, "tmp": tmp_path}
    for standin in (wecom, dingtalk, feishu):
        await standin.close()


DRILLS = ["wecom-http", "wecom-ws", "dingtalk-http", "dingtalk-stream", "feishu-http", "feishu-long_connection"]


async def _drill(name: str, bench: dict[str, Any]) -> Drill:
    if name == "wecom-http":
        return await _wecom_http(bench["wecom"])
    if name == "wecom-ws":
        return await _wecom_ws(bench["wecom"])
    if name == "dingtalk-http":
        return await _dingtalk_http(bench["dingtalk"])
    if name == "dingtalk-stream":
        return await _dingtalk_stream(bench["dingtalk"])
    if name == "feishu-http":
        return await _feishu_http(bench["feishu"], bench["clock"])
    return await _feishu_long_connection(bench["feishu"])


@pytest.mark.parametrize("transport", DRILLS)
async def test_what_was_acknowledged_before_a_kill_9_exists_exactly_once_after_the_restart(
    transport: str, bench: dict[str, Any]
) -> None:
    drill = await _drill(transport, bench)
    tmp: Path = bench["tmp"]
    db, port = tmp / "hubao.db", free_port()
    config = tmp / "hubao.toml"
    config.write_text(
        _toml("storage", {"url": f"sqlite+aiosqlite:///{db}"})
        + _toml("server", {"host": "127.0.0.1", "port": port, "public_url": f"http://127.0.0.1:{port}"})
        + _toml(drill.platform, drill.settings)
    )
    app = App(read_config(str(config)))  # the group exists before the burst, as in real use
    await app.start()
    await app.register_group(drill.platform, drill.chat, "互保演练组", leader=User(f"{drill.platform}:lead", "Lead"))
    await app.close()

    server = ServeProcess(config, port)
    await server.start()
    await server.healthy()
    await drill.connected(1)
    killed = asyncio.Event()
    answered: set[int] = set()

    async def send(n: int) -> bool:
        if killed.is_set():
            return False
        ok = await drill.send(server, n)
        if ok and not killed.is_set():
            answered.add(n)
            if len(answered) >= KILL_AFTER:
                server.kill()
                killed.set()
        return ok

    if drill.acknowledged:
        await _in_parallel(list(range(COMMANDS)), send)
    else:  # nothing is answered on this transport: kill it after a third of the burst went out
        for n in range(COMMANDS):
            await drill.send(server, n)
            if n == COMMANDS // 3:
                server.kill()
                killed.set()
                break
            await asyncio.sleep(0.002)
    await server.wait_dead()
    assert killed.is_set()
    before_restart = _risks_by_command(db)

    try:
        await server.start()
        await server.healthy()
        await drill.connected(2)
        await _settled(db)
        after_restart = _risks_by_command(db)
        stored, pending = _stored(db)
        assert pending == 0
        assert all(count == 1 for count in after_restart.values()), "a command took effect twice"
        if drill.acknowledged:
            assert answered and all(after_restart[n] == 1 for n in answered), (
                f"answered but lost: {sorted(n for n in answered if after_restart[n] != 1)}"
            )
            assert drill.redeliver is not None
            await drill.redeliver(server, [n for n in range(COMMANDS) if n not in answered])
            await _settled(db)
            final = _risks_by_command(db)
            assert sorted(final) == list(range(COMMANDS)) and set(final.values()) == {1}
        else:
            # Every message that reached the database is processed once, the unprocessed ones after
            # the restart; none is processed twice.
            assert set(after_restart) == stored and len(stored) >= len(before_restart)
    finally:
        await server.stop()
