"""Web board server time: a busy group's board and heat map, and the organisation page.

    python -m benchmarks.web                                      # SQLite file in a temp dir
    python -m benchmarks.web --url postgresql+asyncpg://postgres@127.0.0.1:5432/bench
    python -m benchmarks.web --open 1000 --events 50000 --groups 1000 --repeat 30

Data, bulk-inserted: group 1 with ``--open`` open risks (random likelihood × impact, level,
one to two of eight tags, 20 owners; one in five overdue, one in ten snoozed) and as many
resolved ones over the last eight weeks, with ``--events`` events in all (created, acknowledged,
escalated, noted, resolved); then ``--groups`` groups in all, each other group with 10 risks
from the last four weeks and 4 events each. The server is ``python -m hubao serve --config FILE``,
started by its CLI as users run it (delivery worker and scheduler on) on 127.0.0.1 and that
database; the client holds a session cookie (of the group, or of the organisation).

Reported, per page: median and p95 of ``--repeat`` requests after three warm-ups, measured by
the client from sending the request to the last byte of the answer (so it holds the server time
plus loopback), and the page's size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import insert

from benchmarks import procs
from hubao.app import App, read_config
from hubao.bot.clock import ManualClock
from hubao.storage.db import Database
from hubao.storage.models import Group, Member, Risk, RiskEvent
from hubao.web import links
from hubao.web.pages import COOKIE

NOW = datetime.now(UTC).replace(microsecond=0)  # the server runs on the real clock
SECRET = "benchmark-web-link-key-0123456789"
TAGS = ("库存", "采购", "设施", "财务", "安全", "人事", "质量", "物流")
LEVELS = ("high", "medium", "low")
POLICY = {"respond": 3600.0, "resolve": 86400.0, "repeat": 3600.0, "max_repeats": 3, "resolve_repeat": 86400.0}


def _risk(rid: int, gid: int, number: int, created: datetime, owner: str, rng: random.Random, *, open_: bool,
          overdue: bool = False, snoozed: bool = False) -> dict[str, Any]:  # fmt: skip
    resolve_by = NOW - timedelta(hours=rng.uniform(1, 72)) if overdue else created + timedelta(hours=24)
    if open_ and not overdue and resolve_by < NOW:
        resolve_by = NOW + timedelta(hours=rng.uniform(1, 48))
    resolved = None if open_ else min(created + timedelta(hours=rng.uniform(1, 40)), NOW)
    return {
        "id": rid, "group_id": gid, "number": number, "content": f"风险 {number}：仓库A库存低于安全线",
        "level": rng.choice(LEVELS), "tags": rng.sample(TAGS, rng.randint(1, 2)),
        "reporter_id": f"bench:u{rng.randrange(20)}",
        "owner_id": owner, "status": ("acknowledged" if rng.random() < 0.5 else "open") if open_ else "resolved",
        "urgent": False, "source": "chat", "created_at": created, "respond_by": created + timedelta(hours=1),
        "resolve_by": resolve_by, "acked_at": created + timedelta(minutes=20), "resolved_at": resolved,
        "snoozed_until": NOW + timedelta(hours=2) if snoozed else None, "resolution": "", "policy": POLICY,
        "next_step_at": None, "respond_pings": 0, "resolve_pings": 0, "clock_epoch": 0,
        "likelihood": rng.randint(1, 5), "impact": rng.randint(1, 5),
    }  # fmt: skip


def _events(rid: int, gid: int, risk: dict[str, Any], count: int, rng: random.Random) -> list[dict[str, Any]]:
    created = risk["created_at"]
    kinds = ["acknowledged", "escalated", "noted"]
    rows = [{"group_id": gid, "risk_id": rid, "at": created, "actor_id": risk["reporter_id"], "kind": "created",
             "data": {"owner": risk["owner_id"], "resolve_by": risk["resolve_by"].isoformat()}}]  # fmt: skip
    span = max(((risk["resolved_at"] or NOW) - created).total_seconds(), 60)
    for i in range(count - 1 - (risk["resolved_at"] is not None)):
        kind = kinds[i % 3]
        data: dict[str, Any] = {"step": "respond", "repeat": i, "to": [risk["owner_id"]]} if kind == "escalated" else {}
        actor = "system" if kind == "escalated" else risk["owner_id"]
        at = created + timedelta(seconds=rng.uniform(1, span - 1))
        rows.append({"group_id": gid, "risk_id": rid, "at": at, "actor_id": actor, "kind": kind, "data": data})
    if risk["resolved_at"] is not None:
        rows.append({"group_id": gid, "risk_id": rid, "at": risk["resolved_at"], "actor_id": risk["owner_id"],
                     "kind": "resolved", "data": {"on_time": risk["resolved_at"] <= risk["resolve_by"]}})  # fmt: skip
    return rows


async def seed(db: Database, open_risks: int, events: int, groups: int, rng: random.Random) -> None:
    async with db.transaction() as session:
        await session.exec(insert(Group), params=[  # type: ignore[call-overload]
            {"id": g, "platform": "console", "chat_id": f"chat{g}", "name": f"互保小组{g:04d}", "policy": {},
             "next_number": 1, "created_at": NOW - timedelta(days=90)} for g in range(1, groups + 1)])  # fmt: skip
        await session.exec(insert(Member), params=[  # type: ignore[call-overload]
            {"group_id": 1, "user_id": f"bench:u{u}", "name": f"成员{u}", "active": True, "joined_at": NOW}
            for u in range(20)])  # fmt: skip
    risks: list[dict[str, Any]] = []
    rid = 0
    for number in range(1, 2 * open_risks + 1):
        rid += 1
        is_open = number <= open_risks
        created = NOW - timedelta(hours=rng.uniform(2, 8 * 7 * 24 - 30))
        risks.append(_risk(rid, 1, number, created, f"bench:u{rng.randrange(20)}", rng, open_=is_open,
                           overdue=is_open and rng.random() < 0.2, snoozed=is_open and rng.random() < 0.1))  # fmt: skip
    per_risk = max(events // len(risks), 2)
    event_rows = [e for r in risks for e in _events(r["id"], 1, r, per_risk, rng)]
    for gid in range(2, groups + 1):
        for number in range(1, 11):
            rid += 1
            created = NOW - timedelta(hours=rng.uniform(2, 4 * 7 * 24))
            risk = _risk(rid, gid, number, created, f"bench:g{gid}u{number % 4}", rng, open_=rng.random() < 0.4,
                         overdue=rng.random() < 0.1)  # fmt: skip
            risks.append(risk)
            event_rows.extend(_events(rid, gid, risk, 4, rng))
    async with db.transaction() as session:
        for i in range(0, len(risks), 2000):
            await session.exec(insert(Risk), params=risks[i : i + 2000])  # type: ignore[call-overload]
        for i in range(0, len(event_rows), 5000):
            await session.exec(insert(RiskEvent), params=event_rows[i : i + 5000])  # type: ignore[call-overload]
    if not db.is_sqlite:  # explicit ids: move the sequences past them
        async with db.engine.begin() as conn:
            for table in ("groups", "risks", "risk_events", "members"):
                await conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            await conn.exec_driver_sql("ANALYZE")
    print(f"seeded: {open_risks} open + {open_risks} resolved risks and "
          f"{sum(1 for e in event_rows if e['group_id'] == 1)} events in group 1; {groups} groups, "
          f"{len(risks)} risks, {len(event_rows)} events in all")  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def measure(http: aiohttp.ClientSession, url: str, repeat: int) -> dict[str, Any]:
    times: list[float] = []
    size = 0
    for attempt in range(repeat + 3):
        start = time.perf_counter()
        async with http.get(url) as response:
            body = await response.read()
            assert response.status == 200, (url, response.status)
        if attempt >= 3:
            times.append((time.perf_counter() - start) * 1000)
        size = len(body)
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return {"median_ms": round(statistics.median(times), 1), "p95_ms": round(p95, 1), "kib": round(size / 1024)}


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="hubao-bench-web-") as tmp:
        url = args.url or f"sqlite+aiosqlite:///{Path(tmp) / 'web.db'}"
        if args.url:  # a fresh schema each run
            probe = Database(url)
            async with probe.engine.begin() as conn:
                await conn.exec_driver_sql("DROP SCHEMA public CASCADE")
                await conn.exec_driver_sql("CREATE SCHEMA public")
            await probe.dispose()
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        overrides = {"storage.url": url, "web.secret": SECRET, "server.public_url": base}
        app = App(read_config(None, environ={}, overrides=overrides), clock=ManualClock(NOW), instance_id="seed")
        await app.start()  # the schema, by the migrations
        await seed(app.db, args.open, args.events, args.groups, rng)
        await app.close()
        config = Path(tmp) / "hubao.toml"
        config.write_text(
            f'[storage]\nurl = "{url}"\n[server]\nhost = "127.0.0.1"\nport = {port}\npublic_url = "{base}"\n'
            f'[web]\nsecret = "{SECRET}"\n'
        )
        child = procs.start_serving(["-m", "hubao", "serve", "--config", str(config)], port,
                                    log=Path(tmp) / "serve.log")  # fmt: skip
        expires = int((NOW + timedelta(days=1)).timestamp())
        results: dict[str, Any] = {}
        try:
            for kind, pages in (
                (links.GROUP, {"board": "/web/g/1/board", "board (filtered)": "/web/g/1/board?level=high",
                               "heat map": "/web/g/1/heatmap", "heat map + cell": "/web/g/1/heatmap?l=4&i=5",
                               "risk page": f"/web/g/1/risk/{args.open // 2}"}),
                (links.ORG, {"organisation": "/web/org"}),
            ):  # fmt: skip
                grant = links.Grant(kind, 1 if kind == links.GROUP else 0, 0, expires)
                cookie = links.sign(SECRET, links.SESSION, grant)
                async with aiohttp.ClientSession(cookies={COOKIE: cookie}) as http:
                    for name, path in pages.items():
                        results[name] = await measure(http, base + path, args.repeat)
        finally:
            child.stop()
    backend = "PostgreSQL" if args.url else "SQLite"
    print(f"\n{backend}: {args.open} open risks, {args.events} events in the group; {args.groups} groups\n")
    print("| page | median ms | p95 ms | size KiB |\n|---|---:|---:|---:|")
    for name, row in results.items():
        print(f"| {name} | {row['median_ms']} | {row['p95_ms']} | {row['kib']} |")
    if args.json:
        text = json.dumps({"backend": backend, **results}, ensure_ascii=False, indent=1)
        await asyncio.to_thread(Path(args.json).write_text, text)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="PostgreSQL URL (its public schema is dropped and made again)")
    parser.add_argument("--open", type=int, default=1000, help="open risks of the busy group")
    parser.add_argument("--events", type=int, default=50_000, help="events of the busy group")
    parser.add_argument("--groups", type=int, default=1000, help="groups in all")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", help="also write the figures to this file")
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
