"""What one command costs inside the process: ``App.dispatch`` alone, by command, no HTTP.

    python -m benchmarks.dispatch                  # 4000 commands, SQLite in a temporary directory
    python -m benchmarks.dispatch --count 10000 --url postgresql+asyncpg://postgres@127.0.0.1:5432/hubao_bench

The same command mix as ``benchmarks.inbound`` (``benchmarks.wire.command_text``),
sent one after another by a console user of one registered group, after a warm-up. Prints the
mean wall time per command kind and the process CPU time per command overall.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from benchmarks.wire import command_text

WARMUP = 200


async def run(url: str, count: int) -> None:
    from hubao.app import App, read_config
    from hubao.bot.clock import SystemClock
    from hubao.bot.events import InboundEvent, User
    from hubao.storage import repo

    config = read_config(None, environ={}, overrides={"storage.url": url, "storage.auto_migrate": False})
    app = App(config, clock=SystemClock())
    await app.start()
    try:
        group = await app.register_group("console", "bench", "互保压测组", leader=User("console:lead", "Lead"))
        async with app.db.transaction() as session:
            await repo.upsert_member(session, group.id or 0, "console:bob", "Bob", app.clock.now())
        bob = User("console:bob", "Bob")
        texts = [command_text(i) for i in range(WARMUP + count)]

        def event(i: int) -> InboundEvent:
            return InboundEvent("console", "bench", bob, texts[i], f"m{i}", datetime.now(UTC))

        for i in range(WARMUP):
            await app.dispatch(event(i))
        spent: dict[str, list[float]] = defaultdict(list)
        cpu = time.process_time()
        for i in range(WARMUP, WARMUP + count):
            started = time.perf_counter()
            await app.dispatch(event(i))
            spent[texts[i].split()[0]].append(time.perf_counter() - started)
        cpu = time.process_time() - cpu
    finally:
        await app.close()
    print("| command | count | mean µs |")
    print("|---|---:|---:|")
    for kind, seconds in spent.items():
        print(f"| {kind} | {len(seconds)} | {sum(seconds) / len(seconds) * 1e6:.0f} |")
    print(f"| all (process CPU) | {count} | {cpu / count * 1e6:.0f} |")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dispatch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--url", help="database URL (default: a SQLite file in a temporary directory)")
    args = parser.parse_args(argv)
    count = max(100, min(args.count, 200_000))
    with tempfile.TemporaryDirectory(prefix="hubao-bench-") as tmp:
        asyncio.run(run(args.url or f"sqlite:///{tmp}/hubao.db", count))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
