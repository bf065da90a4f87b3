"""Escalation sweep time on PostgreSQL with 10k, 100k and 1M stored risks, of which 0, 100 and 10k are due.

    python -m benchmarks.sweep_pg                       # about a minute
    python -m benchmarks.sweep_pg --url postgresql+asyncpg://postgres@127.0.0.1:5432/test --sizes 10000 100000

A dedicated database is created next to the one in ``--url`` and dropped at the end. One group
is registered and one real risk is created through the dispatcher (``/risk 库存低 @Bob``); the
stored risks are copies of that row (open, next step 1 h to 30 days ahead) bulk-loaded with
COPY, then ``VACUUM ANALYZE``. For each size, ``due`` rows are made due (respond window passed a minute ago, a new clock
epoch so their outbox keys are new) and ``App.sweep()`` is timed: the escalation sweep (claim
due rows ``FOR UPDATE SKIP LOCKED``, one step each: event, outbox messages, next time) plus the
weekly-timer check and the timer sweep. The 0-due sweep is run five times, each other due count
``--repeat-due`` times (made due again, with a new epoch, before each pass); medians reported.
The plan of the sweep's claim query (:func:`hubao.storage.sweep_sql.claim_sql`) is EXPLAINed at
each size, after its last pass.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from benchmarks import procs
from hubao.app import App, read_config
from hubao.bot.clock import ManualClock
from hubao.bot.events import InboundEvent, Mention, User
from hubao.storage.sweep_sql import claim_sql

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 Asia/Shanghai: working time
CHAT = "oc_sweep_bench"
LEADER = User("feishu:ou_lead", "Lead")
OWNER = User("feishu:ou_bob", "Bob")
CHUNK = 50_000
ZERO_DUE_REPEATS = 5


def plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def with_database(url: str, name: str) -> str:
    root, _, _ = url.rpartition("/")
    return f"{root}/{name}"


async def bulk_insert(conn: asyncpg.Connection, template: dict[str, Any], first: int, count: int) -> None:
    """COPY ``count`` copies of the template risk, numbers from ``first``, next steps spread over 30 days."""
    columns = [c for c in template if c != "id"]
    for start in range(first, first + count, CHUNK):
        records = []
        for number in range(start, min(start + CHUNK, first + count)):
            row = dict(template)
            row["number"] = number
            row["content"] = f"库存低 {number}"
            row["next_step_at"] = NOW + timedelta(hours=1) + timedelta(seconds=(number * 7919) % (30 * 86400))
            records.append(tuple(row[c] for c in columns))
        await conn.copy_records_to_table("risks", records=records, columns=columns)


async def make_due(conn: asyncpg.Connection, group_id: int, due: int) -> None:
    """The ``due`` lowest-numbered risks: respond window over a minute ago, fresh clock epoch."""
    if due == 0:
        return
    await conn.execute(
        """
        UPDATE risks SET next_step_at = $2, respond_by = $3, created_at = $4, status = 'open',
               acked_at = NULL, respond_pings = 0, resolve_pings = 0, clock_epoch = clock_epoch + 1
        WHERE id IN (SELECT id FROM risks WHERE group_id = $1 ORDER BY number LIMIT $5)
        """,
        group_id,
        NOW - timedelta(minutes=1),
        NOW - timedelta(minutes=2),
        NOW - timedelta(minutes=62),
        due,
    )


async def timed_sweep(app: App) -> tuple[float, int]:
    start = time.perf_counter()
    performed = await app.sweep()
    return time.perf_counter() - start, performed


def explained_claim() -> str:
    """EXPLAIN of the sweep's claim, in asyncpg's ``$n`` placeholders (now, limit)."""
    return "EXPLAIN (ANALYZE, BUFFERS) " + claim_sql(sqlite=False).replace("?", "$1", 1).replace("?", "$2", 1)


async def benchmark(url: str, sizes: Sequence[int], dues: Sequence[int], repeat_due: int) -> dict[str, Any]:
    name = f"hubao_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(plain(url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    db_url = with_database(url, name)
    results: dict[str, Any] = {"database": name, "runs": [], "plans": {}}
    app: App | None = None
    try:
        config = read_config(None, environ={}, overrides={"storage.url": db_url, "storage.auto_migrate": True})
        app = App(config, clock=ManualClock(NOW))
        await app.start()  # the migrations, as `hubao serve` runs them
        group = await app.register_group("feishu", CHAT, "互保压测组", leader=LEADER)
        gid = group.id or 0
        text = "/risk 库存低 @Bob"
        event_ = InboundEvent(
            "feishu", CHAT, LEADER, text, "template-1", NOW, mentions=(Mention(OWNER, "@Bob"),)
        )  # fmt: skip
        await app.dispatch(event_)
        conn = await asyncpg.connect(plain(db_url))
        try:
            template = dict(await conn.fetchrow("SELECT * FROM risks WHERE group_id = $1", gid))
            await conn.execute("DELETE FROM risk_events WHERE risk_id IS NOT NULL")
            await conn.execute("DELETE FROM outbox")
            await conn.execute("DELETE FROM risks WHERE group_id = $1", gid)
            await timed_sweep(app)  # first pass: the weekly timer of the group, and warm caches
            stored = 0
            for size in sorted(sizes):
                t0 = time.perf_counter()
                await bulk_insert(conn, template, stored + 1, size - stored)
                stored = size
                insert_s = time.perf_counter() - t0
                # As autovacuum leaves a table in service; without it the first passes after a
                # million-row COPY also pay for setting hint bits and race autovacuum.
                await conn.execute("VACUUM ANALYZE risks")
                print(f"  {size} risks stored ({insert_s:.1f} s)", file=sys.stderr, flush=True)
                for due in dues:
                    if due > size:
                        continue
                    repeats = ZERO_DUE_REPEATS if due == 0 else repeat_due
                    times, performed = [], 0
                    for _ in range(repeats):
                        await make_due(conn, gid, due)
                        await conn.execute("ANALYZE risks")
                        seconds, performed = await timed_sweep(app)
                        times.append(seconds)
                    run = {"stored": size, "due": due, "seconds": statistics.median(times), "all": times,
                           "performed": performed, "insert_s": insert_s}  # fmt: skip
                    results["runs"].append(run)
                    shown = ", ".join(f"{t * 1000:.1f}" for t in times)
                    print(f"  stored {size} due {due}: {run['seconds'] * 1000:.1f} ms ({shown}), {performed} steps",
                          file=sys.stderr, flush=True)  # fmt: skip
                plan = await conn.fetch(explained_claim(), NOW, app.escalations.batch)
                results["plans"][str(size)] = [r[0] for r in plan]
        finally:
            await conn.close()
    finally:
        if app is not None:
            await app.close()
        admin = await asyncpg.connect(plain(url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
    return results


def report(results: dict[str, Any]) -> str:
    lines = ["| stored risks | due | sweep ms (App.sweep) | steps performed |", "|---|---|---|---|"]
    for run in results["runs"]:
        lines.append(f"| {run['stored']:,} | {run['due']:,} | {run['seconds'] * 1000:.1f} | {run['performed']:,} |")
    for size, plan in results["plans"].items():
        uses = any("ix_risks_next_step_at" in line for line in plan)
        lines.append(f"\nClaim query plan at {int(size):,} stored (uses ix_risks_next_step_at: {uses}):\n")
        lines += ["    " + line for line in plan]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sweep_pg", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="an existing PostgreSQL database to connect through")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--due", type=int, nargs="+", default=[0, 100, 10_000])
    parser.add_argument("--repeat-due", type=int, default=3, help="passes timed per nonzero due count (median)")
    parser.add_argument("--json", help="write the raw figures here")
    args = parser.parse_args(argv)
    if not args.url.startswith("postgresql"):
        parser.error("--url must be a PostgreSQL URL")
    sizes = [max(1, min(s, 2_000_000)) for s in args.sizes]
    print(json.dumps(procs.machine()), file=sys.stderr)
    results = asyncio.run(benchmark(args.url, sizes, args.due, args.repeat_due))
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
