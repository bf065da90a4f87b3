"""Resident memory of a real ``hubao serve`` process: idle after start-up, then under inbound load.

    python -m benchmarks.memory                          # about 1-2 minutes
    python -m benchmarks.memory --count 2000 --concurrency 64

``hubao serve`` (the CLI, in its own process) runs with a config file: SQLite in a temporary
directory, WeCom, DingTalk and Feishu all enabled on the HTTP-callback transport with dummy
secrets, and every platform URL (api_base, oapi_base, ...) pointing at a sink in this process
that answers success to everything. Unlike ``benchmarks.inbound``, the delivery worker and the
scheduler run: replies really go out (to the sink; DingTalk's session webhooks and WeCom's
response_urls in the callbacks point at it too). VmRSS is sampled from /proc/<pid>/status every
100 ms; VmHWM is the kernel's peak.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from benchmarks import procs
from benchmarks.inbound import closed_loop
from benchmarks.wire import CHATS, HOST, LEADERS, OWNERS, PLATFORMS, platform_settings, requests_for, sink_app

SETTLE = 5.0  # seconds to wait before and after load


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)  # a TOML basic string


def write_config(path: Path, db_url: str, port: int, sink: str) -> None:
    lines = ["[storage]", f"url = {toml_value(db_url)}", "", "[server]", f'host = "{HOST}"', f"port = {port}", ""]
    for platform in PLATFORMS:
        lines.append(f"[{platform}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in platform_settings(platform, sink).items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


async def prepare(config_path: Path) -> None:
    """Schema and one group per platform (leader + Bob), written before the server starts."""
    from hubao.app import App, read_config
    from hubao.storage import repo

    app = App(read_config(str(config_path), environ={}))
    await app.start()
    try:
        for platform in PLATFORMS:
            group = await app.register_group(platform, CHATS[platform], f"互保{platform}", leader=LEADERS[platform])
            async with app.db.transaction() as session:
                owner = OWNERS[platform]
                await repo.upsert_member(session, group.id or 0, owner.id, owner.name, app.clock.now())
    finally:
        await app.close()


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        while not self._halt.is_set():
            try:
                self.samples.append((time.monotonic() - start, procs.memory_kb(self.pid)["VmRSS"]))
            except (FileNotFoundError, KeyError):
                return
            time.sleep(0.1)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


async def wait_healthy(base: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(base + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("hubao serve did not answer /healthz")


async def benchmark(count: int, concurrency: int) -> dict[str, Any]:
    counter: dict[str, int] = {}
    runner = web.AppRunner(sink_app(counter), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    sink = f"http://{HOST}:{runner.addresses[0][1]}"
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hubao-mem-") as tmp:
        db_path = Path(tmp) / "hubao.db"
        config_path = Path(tmp) / "hubao.toml"
        port = free_port()
        write_config(config_path, f"sqlite+aiosqlite:///{db_path}", port, sink)
        await prepare(config_path)
        import subprocess

        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before any measurement
            [sys.executable, "-m", "hubao", "--config", str(config_path), "serve"],
            cwd=procs.ROOT,
            preexec_fn=procs._die_with_parent,
        )
        base = f"http://{HOST}:{port}"
        sampler = Sampler(proc.pid)
        try:
            await wait_healthy(base)
            result["started"] = procs.memory_kb(proc.pid)
            await asyncio.sleep(SETTLE)
            result["idle"] = procs.memory_kb(proc.pid)
            sampler.start()
            run = uuid.uuid4().hex[:8]
            per_platform: dict[str, Any] = {}
            for platform in PLATFORMS:
                reqs = requests_for(platform, count, run, sink)
                _, _, statuses, start, end = await closed_loop(base, reqs, concurrency)
                per_platform[platform] = {"statuses": statuses, "seconds": end - start,
                                          "rss_kb": procs.memory_kb(proc.pid)}  # fmt: skip
                print(f"  {platform}: {count} callbacks in {end - start:.1f} s, {statuses}", file=sys.stderr)
            result["load"] = per_platform
            result["after_load"] = procs.memory_kb(proc.pid)
            await asyncio.sleep(SETTLE)
            result["settled"] = procs.memory_kb(proc.pid)
            sampler.stop()
            result["peak_sampled_rss_kb"] = max(kb for _, kb in sampler.samples)
            with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
                result["processed"] = conn.execute("SELECT count(*) FROM seen_deliveries").fetchone()[0]
                result["outbox"] = dict(conn.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
            result["sink_requests"] = counter.get("requests", 0)
        finally:
            sampler.stop()
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            await runner.cleanup()
    return result


def report(result: dict[str, Any], count: int, concurrency: int) -> str:
    def row(moment: str, kb: dict[str, int]) -> str:
        return f"| {moment} | {kb['VmRSS'] / 1024:.1f} | {kb['VmHWM'] / 1024:.1f} |"

    mb = 1024
    rows = [
        "| moment | VmRSS MB | VmHWM MB |",
        "|---|---|---|",
        row("just started (/healthz answers)", result["started"]),
        row(f"idle, {SETTLE:.0f} s later", result["idle"]),
    ]
    for platform, figures in result["load"].items():
        rows.append(row(f"after {count} {platform} callbacks (c={concurrency})", figures["rss_kb"]))
    rows.append(row(f"{SETTLE:.0f} s after the load", result["settled"]))
    rows.append(f"\nPeak sampled VmRSS during load: {result['peak_sampled_rss_kb'] / mb:.1f} MB. "
                f"Commands processed: {result['processed']}; outbox by state: {result['outbox']}; "
                f"requests that reached the sink: {result['sink_requests']}.")  # fmt: skip
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="callbacks per platform")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--json", help="write the raw figures here")
    args = parser.parse_args(argv)
    count = max(1, min(args.count, 50_000))
    print(json.dumps(procs.machine()), file=sys.stderr)
    result = asyncio.run(benchmark(count, args.concurrency))
    print(report(result, count, args.concurrency))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
