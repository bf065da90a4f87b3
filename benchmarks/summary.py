"""Weekly summary cost: one busy group (10k events in the week), and 1k groups at once.

    python -m benchmarks.summary                                  # SQLite file in a temp dir
    python -m benchmarks.summary --url postgresql+asyncpg://postgres@127.0.0.1:5432/bench
    python -m benchmarks.summary --events 10000 --groups 1000 --group-events 40 --repeat 5

Data: risks created through the week (Mon–Fri, Asia/Shanghai), each with ``created``,
``acknowledged`` (one in five late), a ``noted`` by someone else on half of them and ``resolved``
on three in four; plus the same again in the previous week, so both weeks of the comparison are
real. Rows are bulk-inserted, then the summary is taken on Friday 17:03 with exactly the code the
weekly timer runs (:func:`hubao.handlers.reports.weekly_summaries`), on a fresh session each time.

Reported (wall clock, median of ``--repeat`` runs after one warm-up):
- ``busy group``: one group with ``--events`` events in the week (load = the two queries,
  compute = metrics for both weeks, render = markdown);
- ``1k groups, batch``: one call for every group (what a bulk run would do);
- ``1k groups, one by one``: a call per group in its own transaction — what the weekly timers do
  when every group's slot falls in the same minutes;
- peak RSS of the process.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlmodel import col, select

from hubao.bot.config import Config
from hubao.handlers import metrics, reports
from hubao.storage.db import Database
from hubao.storage.models import Group, Member, Risk, RiskEvent
from hubao.storage.reports import load_history

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 17, 3, tzinfo=SH).astimezone(UTC)  # Friday 17:03
WEEK = reports.week_of(NOW, SH)
MEMBERS = 5
POLICY = {"respond": 3600.0, "resolve": 86400.0, "repeat": 3600.0, "max_repeats": 3, "resolve_repeat": 86400.0}


def _rows_for_group(gid: int, events_per_week: int, rng: random.Random) -> tuple[list[dict[str, Any]], list[Any]]:
    """Risk rows and, per risk, its event dicts (risk id filled in after the insert)."""
    risks: list[dict[str, Any]] = []
    events: list[list[dict[str, Any]]] = []
    people = [f"bench:g{gid}u{i}" for i in range(MEMBERS)]
    number = 0
    for week_start in (WEEK.start - timedelta(days=7), WEEK.start):
        span = (min(NOW, week_start + timedelta(days=5)) - week_start).total_seconds()
        made = 0
        while made < events_per_week:
            number += 1
            created = week_start + timedelta(seconds=rng.uniform(0, span - 7200))
            reporter, owner = rng.choice(people), rng.choice(people)
            late = rng.random() < 0.2
            acked = created + timedelta(minutes=rng.uniform(61, 180) if late else rng.uniform(1, 59))
            resolved = acked + timedelta(hours=rng.uniform(0.5, 30)) if rng.random() < 0.75 else None
            if resolved is not None and resolved > NOW:
                resolved = None
            risk = {
                "group_id": gid, "number": number, "content": f"风险 {number}", "level": "medium", "tags": [],
                "reporter_id": reporter, "owner_id": owner,
                "status": "resolved" if resolved else "acknowledged", "urgent": False, "source": "chat",
                "created_at": created, "respond_by": created + timedelta(hours=1),
                "resolve_by": created + timedelta(hours=24), "acked_at": acked, "resolved_at": resolved,
                "snoozed_until": None, "resolution": "", "policy": POLICY, "next_step_at": None,
                "respond_pings": 0, "resolve_pings": 0, "clock_epoch": 0,
            }  # fmt: skip
            mine = [
                _event(gid, created, reporter, "created", {"owner": owner, "content": risk["content"]}),
                _event(gid, acked, owner, "acknowledged", {"late": late}),
            ]
            if rng.random() < 0.5:
                mine.append(_event(gid, acked + timedelta(minutes=5), rng.choice(people), "noted", {"text": "看看"}))
            if resolved is not None:
                on_time = resolved <= created + timedelta(hours=24)
                mine.append(_event(gid, resolved, owner, "resolved", {"note": "", "on_time": on_time}))
            risks.append(risk)
            events.append(mine)
            made += len(mine)
    return risks, events


def _event(gid: int, at: datetime, actor: str, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"group_id": gid, "risk_id": None, "at": at, "actor_id": actor, "kind": kind, "data": data,
            "message_id": None}  # fmt: skip


async def seed(db: Database, groups: int, events_per_week: int, seed_value: int) -> list[int]:
    rng = random.Random(seed_value)
    created = NOW - timedelta(days=30)
    ids: list[int] = []
    async with db.transaction() as session:
        for g in range(groups):
            group = Group(platform="bench", chat_id=f"chat{g}-{events_per_week}", name=f"组{g}", created_at=created)
            session.add(group)
            await session.flush()
            assert group.id is not None
            ids.append(group.id)
            members = [
                {"group_id": group.id, "user_id": f"bench:g{group.id}u{i}", "name": f"成员{i}", "partner_id": None,
                 "active": True, "joined_at": created}
                for i in range(MEMBERS)
            ]  # fmt: skip
            await session.exec(insert(Member), params=members)  # type: ignore[call-overload]
            risks, events = _rows_for_group(group.id, events_per_week, rng)
            await session.exec(insert(Risk), params=risks)  # type: ignore[call-overload]
            stmt = select(Risk.number, Risk.id).where(Risk.group_id == group.id).order_by(col(Risk.number))
            by_number = dict((await session.exec(stmt)).all())
            flat = []
            for risk, mine in zip(risks, events, strict=True):
                for event in mine:
                    event["risk_id"] = by_number[risk["number"]]
                    flat.append(event)
            for i in range(0, len(flat), 5000):
                await session.exec(insert(RiskEvent), params=flat[i : i + 5000])  # type: ignore[call-overload]
    return ids


async def timed(repeat: int, run: Callable[[], Awaitable[Any]]) -> tuple[float, list[float]]:
    await run()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="hubao-bench-") as tmp:
        url = args.url or f"sqlite+aiosqlite:///{Path(tmp) / 'summary.db'}"
        db = Database(url)
        await db.create_schema()
        config = Config()
        t0 = time.perf_counter()
        (busy,) = await seed(db, 1, args.events, 1)
        many = await seed(db, args.groups, args.group_events, 2)
        print(f"seeded in {time.perf_counter() - t0:.1f}s  database: {url.split('://')[0]}")

        async with db.transaction() as session:
            group = await session.get(Group, busy)
            risks, events = await load_history(session, [busy], WEEK.previous().start, WEEK.end)
        in_week = sum(1 for e in events[busy] if e.at in WEEK)
        print(f"busy group: {in_week} events this week, {len(events[busy])} loaded, {len(risks[busy])} risks")

        async def busy_summary() -> None:
            async with db.transaction() as session:
                await reports.weekly_summaries(session, [group], config, NOW)  # type: ignore[list-item]

        async def busy_load() -> None:
            async with db.transaction() as session:
                await load_history(session, [busy], WEEK.previous().start, WEEK.end)

        rules = metrics.PointRules()

        async def busy_compute() -> None:
            metrics.compute(risks[busy], events[busy], WEEK, NOW, rules)
            metrics.compute(risks[busy], events[busy], WEEK.previous(), NOW, rules)

        async with db.transaction() as session:
            rows = (await session.exec(select(Group).where(col(Group.id).in_(many)))).all()
        groups = list(rows)

        async def batch() -> None:
            async with db.transaction() as session:
                out = await reports.weekly_summaries(session, groups, config, NOW)
                assert len(out) == len(groups)

        async def one_by_one() -> None:
            for g in groups:
                async with db.transaction() as session:
                    await reports.weekly_summaries(session, [g], config, NOW)

        for label, run, repeat in (
            ("busy group, whole summary", busy_summary, args.repeat),
            ("busy group, load only", busy_load, args.repeat),
            ("busy group, compute both weeks", busy_compute, args.repeat),
            (f"{len(groups)} groups, batch", batch, args.repeat),
            (f"{len(groups)} groups, one by one", one_by_one, max(1, args.repeat // 2)),
        ):
            median, times = await timed(repeat, run)
            print(f"{label:36s} median {median * 1000:9.1f} ms   runs: " + " ".join(f"{t * 1000:.0f}" for t in times))
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="database URL (default: a temporary SQLite file); must be an empty database")
    parser.add_argument("--events", type=int, default=10_000, help="events in the week for the busy group")
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--group-events", type=int, default=40, help="events per week in each of the many groups")
    parser.add_argument("--repeat", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
