"""Inbound throughput and latency of ``hubao serve`` as users run it, against a bare aiohttp ceiling.

    python -m benchmarks.inbound                      # everything, both shapes (about 10 minutes)
    python -m benchmarks.inbound --platform feishu --groups 100 --count 2000 --offered-seconds 5

For each platform, shape and phase (closed loop at each concurrency, then offered load) a fresh
SQLite file and a fresh server are used. The server is the real CLI, ``python -m hubao serve
--config FILE``: HTTP callbacks, delivery worker, scheduler and look-ups all on, migrations at
start-up, one process on one CPU. The platform's API (every URL of the adapter) points at a sink
in this process that answers every send with success, so every reply is really sent (at the
per-chat rates and with the merging of waiting replies the worker applies). Two shapes:
``--groups 100`` spreads the commands round-robin over 100 registered groups (each with its own
command mix), ``--groups 1`` sends all of them to one group. The load generator (this process,
on the other CPU) signs/encrypts every request before the clock starts.

A command counts when its ``seen_deliveries`` row is committed as processed (``state = 'done'``,
written in the command's own transaction; every transport here answers only after it); a thread
polls the file every few milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks import procs
from benchmarks.wire import (
    HOST,
    LEADERS,
    OWNERS,
    PLATFORMS,
    Request,
    chat_of,
    platform_settings,
    requests_for,
    sink_app,
)

POLL_INTERVAL = 0.003
EFFECT_TIMEOUT = 120.0
REQUEST_TIMEOUT = 30.0
SERVER_CPUS: set[int] = set()  # with --pin: the server's CPU; the load generator gets the others


# ---- the server side (child processes) ------------------------------------------------------


async def prepare_server(tmp: Path, platform: str, groups: int, sink: str) -> tuple[Path, int]:
    """The config file and database of one run: ``groups`` registered groups, each with its owner."""
    from hubao.app import App, read_config

    port = _free_port()
    config = tmp / "hubao.toml"
    settings = platform_settings(platform, sink, [chat_of(platform, g, groups) for g in range(groups)])

    def toml(value: Any) -> str:
        if isinstance(value, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + "}"
        return json.dumps(value)

    config.write_text(
        f'[storage]\nurl = "sqlite+aiosqlite:///{tmp / "hubao.db"}"\n'
        f'[server]\nhost = "{HOST}"\nport = {port}\npublic_url = "http://{HOST}:{port}"\n'
        f"[{platform}]\n" + "".join(f"{k} = {toml(v)}\n" for k, v in settings.items())
    )

    from hubao.storage import repo

    app = App(read_config(str(config), environ={}))
    await app.start()
    try:
        for g in range(groups):
            group = await app.register_group(platform, chat_of(platform, g, groups), f"压测组{g}",
                                             leader=LEADERS[platform])  # fmt: skip
            async with app.db.transaction() as session:
                owner = OWNERS[platform]
                await repo.upsert_member(session, group.id or 0, owner.id, owner.name, app.clock.now())
    finally:
        await app.close()
    return config, port


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class Sink(threading.Thread):
    """The platform API: answers every call with success, in its own thread and event loop."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.counter: dict[str, int] = {}
        self.port = _free_port()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self) -> None:
        from aiohttp import web

        async def main() -> None:
            runner = web.AppRunner(sink_app(self.counter), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, HOST, self.port).start()
            self._ready.set()
            await asyncio.Event().wait()

        self._loop = asyncio.new_event_loop()
        with contextlib.suppress(RuntimeError):
            self._loop.run_until_complete(main())

    @property
    def url(self) -> str:
        self._ready.wait(10)
        return f"http://{HOST}:{self.port}"


async def serve_bare(profile: str | None) -> None:
    from aiohttp import web

    from benchmarks.wire import bare_app

    runner = web.AppRunner(bare_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    await _run_until_terminated(runner, profile)


async def _run_until_terminated(runner: Any, profile: str | None) -> None:
    port = runner.addresses[0][1]
    profiler = None
    if profile:
        from pyinstrument import Profiler  # a measuring aid on this machine, not a project dependency

        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(f"READY {port}", flush=True)
    await stop.wait()
    if profiler is not None:
        profiler.stop()
        text = profiler.output_text(unicode=True, color=False, show_all=False)
        await asyncio.to_thread(Path(profile or "").write_text, text)
    await runner.cleanup()


# ---- the load generator (this process) ----------------------------------------------------


class EffectWatcher(threading.Thread):
    """Polls ``seen_deliveries`` for new rows; records when each key first became visible."""

    def __init__(self, db_path: str) -> None:
        super().__init__(daemon=True)
        self.db_path = db_path
        self.seen: dict[str, float] = {}
        self._halt = threading.Event()
        self._last_rowid = 0

    def run(self) -> None:
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        try:
            while not self._halt.is_set():
                rows = conn.execute(
                    # Rows are written "done" in the command's transaction on every transport measured
                    # here (HTTP callbacks process before answering), so a row seen is an effect.
                    "SELECT rowid, key FROM seen_deliveries WHERE rowid > ? AND state = 'done' ORDER BY rowid",
                    (self._last_rowid,),
                ).fetchall()
                now = time.perf_counter()
                for rowid, key in rows:
                    self.seen.setdefault(key, now)
                    self._last_rowid = max(self._last_rowid, rowid)
                time.sleep(POLL_INTERVAL)
        finally:
            conn.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def errors(self) -> int:
        """Commands that failed (the dispatcher queued its apology); counted outside the timed polling."""
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        try:
            return int(conn.execute("SELECT count(*) FROM outbox WHERE key LIKE 'error:%'").fetchone()[0])
        finally:
            conn.close()

    async def wait_for(self, keys: Sequence[str], limit: float) -> bool:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if all(k in self.seen for k in keys):
                return True
            await asyncio.sleep(0.01)
        return False


@dataclass
class Phase:
    target: str  # platform or "bare"
    mode: str  # "closed" or "offered"
    groups: int = 0  # the shape: commands spread over this many groups (0: the bare server)
    concurrency: int = 0
    rate: float = 0.0
    sent: int = 0
    failed_http: int = 0
    http_seconds: float = 0.0
    effect_seconds: float | None = None  # closed: until the last command's effect was visible
    processed: int = 0
    dispatch_errors: int = 0
    http_p50_ms: float = 0.0
    http_p99_ms: float = 0.0
    http_max_ms: float = 0.0
    effect_p50_ms: float | None = None
    effect_p99_ms: float | None = None
    effect_max_ms: float | None = None
    server_cpu_s: float = 0.0
    loadgen_cpu_s: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    runs: list[int] = field(default_factory=list)  # commands/s of every run of a repeated phase

    @property
    def commands_per_s(self) -> float:
        seconds = self.effect_seconds if self.effect_seconds is not None else self.http_seconds
        done = self.processed if self.target != "bare" else self.sent - self.failed_http
        return done / seconds if seconds else 0.0


def quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _post(
    http: aiohttp.ClientSession, base: str, req: Request, sent_at: dict[str, float], answered: dict[str, float],
    statuses: dict[str, int],
) -> None:  # fmt: skip
    sent_at[req.key] = time.perf_counter()
    try:
        async with http.post(base + req.path, data=req.body, headers=req.headers) as response:
            await response.read()
            status = str(response.status)
    except (aiohttp.ClientError, TimeoutError) as exc:
        status = type(exc).__name__
    answered[req.key] = time.perf_counter()
    statuses[status] = statuses.get(status, 0) + 1


async def closed_loop(base: str, reqs: list[Request], concurrency: int) -> tuple[dict[str, float], dict[str, float], dict[str, int], float, float]:  # noqa: E501
    sent_at: dict[str, float] = {}
    answered: dict[str, float] = {}
    statuses: dict[str, int] = {}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout) as http:
        queue = iter(reqs)

        async def worker() -> None:
            for req in queue:
                await _post(http, base, req, sent_at, answered, statuses)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        end = time.perf_counter()
    return sent_at, answered, statuses, start, end


async def open_loop(base: str, reqs: list[Request], rate: float) -> tuple[dict[str, float], dict[str, float], dict[str, int], float, float]:  # noqa: E501
    sent_at: dict[str, float] = {}
    answered: dict[str, float] = {}
    statuses: dict[str, int] = {}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512), timeout=timeout) as http:
        tasks: list[asyncio.Task[None]] = []
        start = time.perf_counter()
        for i, req in enumerate(reqs):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_post(http, base, req, sent_at, answered, statuses)))
        await asyncio.gather(*tasks)
        end = time.perf_counter()
    return sent_at, answered, statuses, start, end


async def run_phase(
    target: str, mode: str, *, count: int, concurrency: int, rate: float, seconds: float, warmup: int,
    profile_dir: str | None, groups: int, sink: str,
) -> Phase:  # fmt: skip
    run = uuid.uuid4().hex[:8]
    platform = target if target != "bare" else "feishu"  # the bare server gets Feishu's bodies
    total = int(rate * seconds) if mode == "offered" else count
    with tempfile.TemporaryDirectory(prefix="hubao-bench-") as tmp:
        db_path = str(Path(tmp) / "hubao.db")
        if target == "bare":
            args = ["-m", "benchmarks.inbound", "bare"]
            if profile_dir:
                args += ["--profile", str(Path(profile_dir) / f"bare-{mode}-{concurrency or int(rate)}.txt")]
            child = procs.start(args, cpus=SERVER_CPUS or None)
        else:
            config, port = await prepare_server(Path(tmp), platform, groups, sink)
            args = ["-m", "hubao", "serve", "--config", str(config)]
            child = procs.start_serving(args, port, cpus=SERVER_CPUS or None, log=Path(tmp) / "serve.log")
        watcher: EffectWatcher | None = None
        try:
            warm = requests_for(platform, warmup, f"warm{run}", sink, first=10_000_000, groups=groups)
            reqs = requests_for(platform, total, run, sink, groups=groups)
            if target != "bare":
                watcher = EffectWatcher(db_path)
                watcher.start()
            if warm:
                await closed_loop(child.base, warm, min(16, concurrency or 16))
                if watcher is not None and not await watcher.wait_for([r.key for r in warm], EFFECT_TIMEOUT):
                    raise RuntimeError("warm-up commands were not all processed")
            errors_before = watcher.errors() if watcher else 0
            cpu0, load0 = procs.cpu_seconds(child.pid), time.process_time()
            if mode == "closed":
                sent_at, answered, statuses, start, end = await closed_loop(child.base, reqs, concurrency)
            else:
                sent_at, answered, statuses, start, end = await open_loop(child.base, reqs, rate)
            phase = Phase(target, mode, concurrency=concurrency, rate=rate, sent=len(reqs), statuses=statuses,
                          groups=groups if target != "bare" else 0)  # fmt: skip
            phase.failed_http = sum(n for s, n in statuses.items() if s != "200")
            phase.http_seconds = end - start
            latencies = [(answered[k] - sent_at[k]) * 1000 for k in answered]
            phase.http_p50_ms, phase.http_p99_ms = quantile(latencies, 0.5), quantile(latencies, 0.99)
            phase.http_max_ms = max(latencies)
            if watcher is not None:
                keys = [r.key for r in reqs]
                await watcher.wait_for(keys, EFFECT_TIMEOUT)
                done = [k for k in keys if k in watcher.seen]
                phase.processed = len(done)
                phase.dispatch_errors = watcher.errors() - errors_before
                if done:
                    phase.effect_seconds = max(watcher.seen[k] for k in done) - start
                    effects = [(watcher.seen[k] - sent_at[k]) * 1000 for k in done]
                    phase.effect_p50_ms = quantile(effects, 0.5)
                    phase.effect_p99_ms = quantile(effects, 0.99)
                    phase.effect_max_ms = max(effects)
            phase.server_cpu_s = procs.cpu_seconds(child.pid) - cpu0
            phase.loadgen_cpu_s = time.process_time() - load0
            return phase
        finally:
            try:
                child.stop()
            finally:
                if watcher is not None:
                    watcher.stop()


def fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def table(phases: list[Phase]) -> str:
    bare = {(p.mode, p.concurrency, p.rate): p for p in phases if p.target == "bare"}
    lines = [
        "| server | groups | mode | sent | processed | commands/s (to effect) | hubao/bare | HTTP p50 ms | HTTP p99 ms "
        "| effect p50 ms | effect p99 ms | server CPU s | non-200 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in phases:
        mode = f"closed c={p.concurrency}" if p.mode == "closed" else f"offered {p.rate:.0f}/s"
        ceiling = bare.get((p.mode, p.concurrency, p.rate))
        ratio = "" if p.target == "bare" or ceiling is None else f"{p.commands_per_s / ceiling.commands_per_s:.2f}"
        if p.mode == "offered" and p.target != "bare" and ceiling is not None:
            ratio = f"p99 ×{(p.effect_p99_ms or 0) / ceiling.http_p99_ms:.0f}"
        processed = str(p.processed) if p.target != "bare" else "—"
        rate = f"{p.commands_per_s:.0f}" + (f" ({min(p.runs)}–{max(p.runs)})" if len(p.runs) > 1 else "")
        lines.append(
            f"| {p.target} | {p.groups or '—'} | {mode} | {p.sent} | {processed} | {rate} | {ratio} | "
            f"{p.http_p50_ms:.1f} | {p.http_p99_ms:.1f} | {fmt(p.effect_p50_ms)} | {fmt(p.effect_p99_ms)} | "
            f"{p.server_cpu_s:.1f} | {p.failed_http} |"
        )
    return "\n".join(lines)


async def benchmark(args: argparse.Namespace, sink: str) -> list[Phase]:
    phases: list[Phase] = []
    started = time.monotonic()
    targets = [("bare", 0)] + [(p, g) for g in args.groups for p in args.platform]
    for target, groups in targets:
        for concurrency in args.concurrency:
            runs = [
                await run_phase(
                    target, "closed", count=args.count, concurrency=concurrency, rate=0, seconds=0,
                    warmup=args.warmup, groups=groups, sink=sink,
                    profile_dir=args.profile_dir if concurrency == max(args.concurrency) and i == 0 else None,
                )
                for i in range(args.repeat)
            ]  # fmt: skip
            # Each run has its own server and database; the median run is reported, with the spread.
            phase = sorted(runs, key=lambda r: r.commands_per_s)[len(runs) // 2]
            phase.runs = [round(r.commands_per_s) for r in runs]
            phases.append(phase)
            print(f"  {target} groups={groups} closed c={concurrency}: {phase.runs}/s", file=sys.stderr, flush=True)
        if args.offered_seconds > 0:
            phase = await run_phase(
                target, "offered", count=0, concurrency=0, rate=args.rate, seconds=args.offered_seconds,
                warmup=args.warmup, profile_dir=None, groups=groups, sink=sink,
            )  # fmt: skip
            phases.append(phase)
            print(
                f"  {target} groups={groups} offered {args.rate:.0f}/s: effect p99 {fmt(phase.effect_p99_ms)} ms, "
                f"HTTP p99 {phase.http_p99_ms:.1f} ms",
                file=sys.stderr,
                flush=True,
            )
        if time.monotonic() - started > args.budget:
            print("time budget spent; stopping early", file=sys.stderr)
            break
    return phases


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inbound", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    bare = sub.add_parser("bare", help="run the bare aiohttp ceiling server (child process)")
    bare.add_argument("--profile")
    parser.add_argument("--platform", action="append", choices=PLATFORMS, help="default: all three")
    parser.add_argument("--groups", type=int, action="append", help="the shapes: groups the commands are spread "
                        "over (default: 100 and 1)")  # fmt: skip
    parser.add_argument("--count", type=int, default=2000, help="commands per closed-loop phase")
    parser.add_argument("--concurrency", type=int, action="append", help="default: 16 and 64")
    parser.add_argument("--rate", type=float, default=200.0, help="offered load, commands/s")
    parser.add_argument("--offered-seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each closed-loop phase; the median is shown")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True,
                        help="server on the first CPU, load generator on the others (default: on)")  # fmt: skip
    parser.add_argument("--budget", type=float, default=270.0, help="stop starting phases after this many seconds")
    parser.add_argument("--profile-dir", help="profile the server at the highest concurrency (pyinstrument)")
    parser.add_argument("--json", help="write the raw figures here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.command == "bare":
        asyncio.run(serve_bare(args.profile))
        return 0
    args.platform = args.platform or list(PLATFORMS)
    args.concurrency = args.concurrency or [16, 64]
    args.groups = [max(1, min(g, 1000)) for g in (args.groups or [100, 1])]
    args.count = max(1, min(args.count, 100_000))
    args.repeat = max(1, min(args.repeat, 9))
    args.offered_seconds = max(0.0, min(args.offered_seconds, 60.0))
    cpus = sorted(os.sched_getaffinity(0))
    if args.pin and len(cpus) >= 2:
        # One core for the server process, the rest for the load generator: the figure is what
        # one process does on one core, and the two do not take turns on the same core.
        SERVER_CPUS.add(cpus[0])
        os.sched_setaffinity(0, set(cpus[1:]))
    print(json.dumps(procs.machine() | {"server_cpus": sorted(SERVER_CPUS)}), file=sys.stderr)
    sink = Sink()
    sink.start()
    phases = asyncio.run(benchmark(args, sink.url))
    print(f"sends answered by the platform sink: {sink.counter.get('requests', 0)}", file=sys.stderr)
    print(table(phases))
    if args.json:
        raw = [asdict(p) | {"commands_per_s": p.commands_per_s} for p in phases]
        Path(args.json).write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
