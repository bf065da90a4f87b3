"""Sweep time against stored and due risks, on SQLite.

    python -m benchmarks.sweep                      # 10k, 100k, 1M stored × 0, 100, 10k due
    python -m benchmarks.sweep --stored 10000 --due 0,100

For each stored size a fresh SQLite file is filled directly (bulk INSERT, 100 groups, 5 members
each, most risks due in the future, a quarter of those past the first 20k resolved); then, per due
count, that many risks are made due (a new clock epoch each time, so their outbox keys are new) and
one sweep pass is timed (each due risk: its step, event and outbox row). Each due count is timed
``--repeat-due`` times (made due again before each pass) and the median reported. The 0-due pass
is the one that runs every ``sweep_interval`` all day: it must not grow with the number of stored
risks (the ``next_step_at`` index answers it). Figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hubao.app import App
from hubao.bot.clock import ManualClock
from hubao.bot.config import load_config
from hubao.scheduler.policy import Policy

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
GROUPS = 100
FMT = "%Y-%m-%d %H:%M:%S.%f"


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).strftime(FMT)


def fill(path: Path, stored: int) -> None:
    """Groups, members and ``stored`` risks, none of them due at NOW."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    created = stamp(NOW - timedelta(days=30))
    db.executemany(
        "INSERT INTO groups (id, platform, chat_id, name, policy, next_number, created_at) VALUES (?,?,?,?,?,?,?)",
        [(g, "console", f"chat-{g}", f"group {g}", "{}", stored // GROUPS + 2, created) for g in range(1, GROUPS + 1)],
    )
    db.executemany(
        "INSERT INTO members (group_id, user_id, name, partner_id, active, joined_at) VALUES (?,?,?,?,?,?)",
        [
            (g, f"console:u{g}-{m}", f"u{g}-{m}", f"console:u{g}-{m ^ 1}", 1, created)
            for g in range(1, GROUPS + 1)
            for m in range(5)
        ],
    )
    policy = json.dumps(Policy().to_json())

    def rows():  # type: ignore[no-untyped-def]
        for i in range(stored):
            group = i % GROUPS + 1
            resolved = i >= 20_000 and i % 4 == 3  # the first 20k stay open, to be made due
            born = NOW - timedelta(minutes=i % 600)
            next_step = None if resolved else stamp(NOW + timedelta(minutes=1 + i % 1440))
            yield (
                group, i // GROUPS + 1, f"risk {i}", "medium", "[]", f"console:u{group}-0", f"console:u{group}-1",
                "resolved" if resolved else "open", 0, "chat", stamp(born), stamp(born + timedelta(hours=1)),
                stamp(born + timedelta(hours=24)), "", policy, next_step, 0, 0, 0,
            )  # fmt: skip

    db.executemany(
        "INSERT INTO risks (group_id, number, content, level, tags, reporter_id, owner_id, status, urgent, source,"
        " created_at, respond_by, resolve_by, resolution, policy, next_step_at, respond_pings, resolve_pings,"
        " clock_epoch) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows(),
    )
    db.commit()
    db.execute("ANALYZE")
    db.close()


def make_due(path: Path, due: int) -> None:
    """Make ``due`` open risks due (their respond window passed at NOW, a new clock epoch)."""
    db = sqlite3.connect(path)
    db.execute(
        "UPDATE risks SET next_step_at = ?, respond_by = ?, respond_pings = 0, clock_epoch = clock_epoch + 1 "
        "WHERE id IN (SELECT id FROM risks WHERE status = 'open' ORDER BY id LIMIT ?)",
        (stamp(NOW - timedelta(minutes=1)), stamp(NOW - timedelta(minutes=1)), due),
    )
    db.commit()
    db.close()


async def timed_sweep(app: App) -> tuple[float, int]:
    start = time.perf_counter()
    performed = await app.escalations.run_once(NOW)
    return time.perf_counter() - start, performed


async def run(stored_sizes: list[int], due_counts: list[int], repeat: int, repeat_due: int) -> list[dict[str, Any]]:
    results = []
    for stored in stored_sizes:
        with tempfile.TemporaryDirectory(prefix="hubao-bench-") as tmp:
            path = Path(tmp) / "sweep.db"
            config = load_config(None, environ={}, overrides={"storage.url": f"sqlite+aiosqlite:///{path}"})
            app = App(config, clock=ManualClock(NOW), instance_id="bench")
            await app.db.create_schema()
            await app.db.dispose()
            began = time.perf_counter()
            fill(path, stored)
            filled = time.perf_counter() - began
            app = App(config, clock=ManualClock(NOW), instance_id="bench")
            for due in due_counts:
                times = []
                for _ in range(repeat if due == 0 else repeat_due):
                    make_due(path, due)
                    seconds, performed = await timed_sweep(app)
                    assert performed == due, (performed, due)
                    times.append(seconds)
                row = {"stored": stored, "due": due, "seconds": statistics.median(times), "all": times, "fill": filled}
                results.append(row)
                per = f"  {row['seconds'] / due * 1000:.3f} ms/step" if due else ""
                runs = f"  (median of {len(times)}: {', '.join(f'{t * 1000:.1f}' for t in times)} ms)"
                print(
                    f"stored={stored:>9,} due={due:>6,}  sweep {row['seconds'] * 1000:9.2f} ms{per}{runs}", flush=True
                )
            await app.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stored", default="10000,100000,1000000")
    parser.add_argument("--due", default="0,100,10000")
    parser.add_argument("--repeat", type=int, default=20, help="0-due passes timed per size (median)")
    parser.add_argument("--repeat-due", type=int, default=3, help="passes timed per nonzero due count (median)")
    parser.add_argument("--url", help="a PostgreSQL URL: run on PostgreSQL instead (benchmarks/sweep_pg.py)")
    args = parser.parse_args()
    if args.url:
        from benchmarks import sweep_pg

        sizes, dues = args.stored.split(","), args.due.split(",")
        raise SystemExit(
            sweep_pg.main(["--url", args.url, "--sizes", *sizes, "--due", *dues, "--repeat-due", str(args.repeat_due)])
        )
    stored, due = [int(x) for x in args.stored.split(",")], [int(x) for x in args.due.split(",")]
    asyncio.run(run(stored, due, args.repeat, args.repeat_due))


if __name__ == "__main__":
    main()
