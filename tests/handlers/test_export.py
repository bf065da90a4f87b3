"""Export: XLSX checked cell by cell, CSV files in a ZIP, the CLI, and signed download links."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import sys
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from openpyxl import load_workbook

from hubao.console import ConsoleSession
from hubao.handlers.export import export_bytes, sign_link, verify_link
from hubao.storage import repo
from tests.handlers.test_reports import _seed
from tests.handlers.week_history import NOW
from tests.harness import serve

WEEK = (date(2026, 11, 23), date(2026, 11, 29))
SECRET = "export-signing-key-never-exported"


async def _export(console: ConsoleSession, fmt: str, first: date = WEEK[0], last: date = WEEK[1]) -> bytes:
    async with console.app.db.transaction() as session:
        group = await repo.get_group(session, "console", "demo")
        assert group is not None
        return await export_bytes(session, group, console.app.config, first, last, fmt, console.clock.now())


def _unzipped_text(body: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return "".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())


async def test_xlsx_has_risks_events_metrics_members_and_points_cell_by_cell(make_console: Any) -> None:
    console: ConsoleSession = await make_console(**{"export.secret": SECRET, "bot.admins": ["console:root"]})
    await _seed(console)
    book = load_workbook(io.BytesIO(await _export(console, "xlsx")))
    assert book.sheetnames == [
        "risks", "events", "metrics", "members", "points", "goals", "register", "surveys", "drills"
    ]  # fmt: skip

    risks = book["risks"]
    assert [c.value for c in risks[1]][:6] == ["number", "content", "level", "tags", "status", "source"]
    assert [row[0].value for row in risks.iter_rows(min_row=2)] == [1, 2, 3, 4, 5, 6, 7]  # #8 ended last week
    first = {h.value: c.value for h, c in zip(risks[1], risks[2], strict=True)}
    assert first == {
        "number": 1, "content": "风险1", "level": "medium", "tags": None, "status": "resolved",
        "source": "chat", "urgent": False, "reporter": "console:alice", "reporter_name": "alice",
        "owner": "console:bob", "owner_name": "bob", "created_at": "2026-11-23 09:00:00+08:00",
        "respond_by": "2026-11-23 10:00:00+08:00", "resolve_by": "2026-11-24 09:00:00+08:00",
        "acked_at": "2026-11-23 09:10:00+08:00", "resolved_at": "2026-11-23 12:00:00+08:00", "resolution": None,
        "likelihood": None, "impact": None, "score": None, "acked_by": "console:bob", "acked_by_name": "bob",
    }  # fmt: skip

    events = book["events"]
    assert events.max_row - 1 == 18  # every event inside the week, none before
    kinds = [(row[2].value, row[3].value, row[5].value) for row in events.iter_rows(min_row=2)]
    assert kinds[:3] == [(1, "created", "alice"), (1, "acknowledged", "bob"), (6, "resolved", "alice")]
    assert kinds[7] == (3, "noted", "dave") and "日志里有线索" in events.cell(9, 7).value

    metrics = {row[0].value: row[1].value for row in book["metrics"].iter_rows(min_row=2)}
    assert metrics == {
        "period_start": "2026-11-23 00:00:00+08:00", "period_end": "2026-11-30 00:00:00+08:00",
        "as_of": "2026-11-29 12:00:00+08:00", "new": 6, "resolved": 5, "resolved_on_time": 3,
        "on_time_rate": 0.6, "collaborative_resolved": 3, "collaboration_rate": 0.6, "open": 2, "overdue": 2,
        "overdue_rate": 1, "responses": 5, "median_response_minutes": 30, "p90_response_minutes": 120,
        "goals_due": 0, "goals_achieved_by_due": 0, "goal_achievement_rate": None,
    }  # fmt: skip

    members = book["members"]
    assert [c.value for c in members[1]] == [
        "user", "name", "reminders", "owned_new", "acknowledged", "acknowledged_late", "resolved_as_owner",
        "resolved_on_time", "open_now", "overdue_now", "median_response_minutes", "points",
    ]  # fmt: skip
    assert [[c.value for c in row] for row in members.iter_rows(min_row=2)] == [
        ["console:bob", "bob", 1, 3, 2, 0, 2, 2, 0, 0, 20, 10],
        ["console:alice", "alice", 3, 1, 0, 0, 2, 1, 0, 0, 5, 9],  # #5 (hers, 5 min) and #6 (last week)
        ["console:carol", "carol", 2, 2, 1, 1, 1, 0, 1, 1, 90, 2],
        ["console:dave", "dave", 0, 0, 1, 1, 0, 0, 1, 1, 120, 2],
    ]

    points = [[c.value for c in row] for row in book["points"].iter_rows(min_row=2)]
    assert len(points) == 11
    assert points[0] == ["2026-11-23 09:10:00+08:00", "console:bob", "bob", "ack_in_time", 1, 1, points[0][6]]
    totals: dict[str, int] = {}
    for row in points:
        totals[row[2]] = totals.get(row[2], 0) + row[4]
    assert totals == {"bob": 10, "alice": 9, "carol": 2, "dave": 2}  # the leaderboard, event by event
    event_ids = {row[0].value for row in events.iter_rows(min_row=2)}
    assert all(row[6] in event_ids for row in points)  # every point names an exported event


async def test_csv_is_a_zip_of_the_same_tables(console: ConsoleSession) -> None:
    await _seed(console)
    body = await _export(console, "csv")
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.namelist() == [
            "risks.csv", "events.csv", "metrics.csv", "members.csv", "points.csv", "goals.csv", "register.csv",
            "surveys.csv", "drills.csv",
        ]  # fmt: skip
        raw = archive.read("metrics.csv").decode("utf-8")
        risks = archive.read("risks.csv").decode("utf-8")
    assert raw.startswith("\ufeffmetric,value\r\n")  # BOM: Excel opens Chinese text correctly
    rows = dict(csv.reader(io.StringIO(raw.lstrip("\ufeff"))))
    assert (rows["new"], rows["on_time_rate"], rows["p90_response_minutes"]) == ("6", "0.6", "120.0")
    assert list(csv.reader(io.StringIO(risks.lstrip("\ufeff"))))[1][:3] == ["1", "风险1", "medium"]


async def test_no_secret_and_no_formula_reaches_an_export(make_console: Any) -> None:
    console: ConsoleSession = await make_console(
        **{"export.secret": SECRET, "dingtalk.client_secret": "dingtalk-secret-value", "server.public_url": "https://x"}
    )
    await console.say("alice", "/risk =HYPERLINK(\"http://evil\",\"点我\") @bob")
    await console.say("bob", "/note #1 +1 同意")
    day = NOW.date()
    for fmt in ("xlsx", "csv"):
        text = _unzipped_text(await _export(console, fmt, date(2026, 11, 23), day))
        assert SECRET not in text and "dingtalk-secret-value" not in text
    book = load_workbook(io.BytesIO(await _export(console, "xlsx", date(2026, 11, 23), day)))
    cell = book["risks"]["B2"]
    assert cell.value == "'=HYPERLINK(\"http://evil\",\"点我\")" and cell.data_type == "s"


async def test_cli_writes_the_file(console: ConsoleSession, db_url: str, tmp_path: Path) -> None:
    await _seed(console)
    config = tmp_path / "hubao.toml"
    config.write_text(f'[storage]\nurl = "{db_url}"\n', encoding="utf-8")
    out = tmp_path / "q4.xlsx"

    async def run(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hubao", "--config", str(config), "export", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode or 0, stdout.decode(), stderr.decode()

    code, stdout, _ = await run("--group", "console:demo", "--from", "2026-11-23", "--to", "2026-11-29",
                                "--format", "xlsx", "--out", str(out))  # fmt: skip
    assert code == 0 and stdout.strip() == str(out)
    assert load_workbook(out)["metrics"]["B5"].value == 6  # new risks
    code, _, stderr = await run("--group", "互保演示组", "--from", "2026-11-23", "--to", "2026-11-29",
                                "--format", "csv", "--out", str(tmp_path / "q4.zip"))  # fmt: skip
    assert code == 0 and zipfile.is_zipfile(tmp_path / "q4.zip")
    code, _, stderr = await run("--group", "nope", "--from", "2026-11-23", "--to", "2026-11-29")
    assert code == 2 and "no group 'nope'" in stderr
    code, _, stderr = await run("--group", "console:demo", "--from", "23.11.2026", "--to", "2026-11-29")
    assert code == 2 and "YYYY-MM-DD" in stderr


async def test_cli_refuses_days_outside_the_supported_years(db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "hubao.toml"
    config.write_text(f'[storage]\nurl = "{db_url}"\n', encoding="utf-8")
    for first, last in [("2026-11-23", "9999-12-31"), ("0001-01-01", "2026-11-29")]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hubao", "--config", str(config), "export", "--group", "console:demo",
            "--from", first, "--to", last, "--out", str(tmp_path / "x.xlsx"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 2, stderr.decode()
        assert stderr.decode() == "hubao export: dates are written YYYY-MM-DD, years 2000 to 2100\n"
    assert not (tmp_path / "x.xlsx").exists()


async def test_a_signed_link_to_days_outside_the_supported_years_is_a_400(make_console: Any) -> None:
    console: ConsoleSession = await make_console(**{"export.secret": SECRET})
    await console.say("alice", "在")
    expires = NOW + timedelta(hours=1)
    server = await serve(console.app)
    try:
        async with aiohttp.ClientSession() as http:
            for first, last in [(date(2026, 11, 23), date(9999, 12, 31)), (date(1, 1, 1), date(1, 1, 2)),
                                (date(2026, 11, 29), date(2026, 11, 23))]:  # fmt: skip
                token = sign_link(SECRET, 1, first, last, "xlsx", expires)
                async with http.get(server.make_url(f"/export/{token}")) as response:
                    assert response.status == 400, (first, last, await response.text())
            token = sign_link(SECRET, 1, date(2026, 11, 23), date(2026, 11, 29), "xlsx", expires)
            async with http.get(server.make_url(f"/export/{token}")) as response:
                assert response.status == 200
    finally:
        await server.close()


async def test_admin_export_link_downloads_until_it_expires(make_console: Any) -> None:
    console: ConsoleSession = await make_console(
        admins=("root",), **{"export.secret": SECRET, "server.public_url": "https://bot.example.com/"}
    )
    await _seed(console)
    (reply,) = await console.say("root", "/admin export 2026-11-23 2026-11-29")
    assert reply.startswith("bot: 导出 2026-11-23 至 2026-11-29：https://bot.example.com/export/")
    assert "链接 11-30 12:00 前有效。" in reply  # 24 h by default
    token = re.search(r"/export/(\S+)", reply).group(1)  # type: ignore[union-attr]
    server = await serve(console.app)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(server.make_url(f"/export/{token}")) as response:
                assert response.status == 200
                assert 'filename="hubao-1-20261123-20261129.xlsx"' in response.headers["Content-Disposition"]
                book = load_workbook(io.BytesIO(await response.read()))
                assert book["metrics"]["B5"].value == 6
            forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
            async with http.get(server.make_url(f"/export/{forged}")) as response:
                assert response.status == 403
            console.clock.advance(timedelta(hours=24, minutes=1))
            async with http.get(server.make_url(f"/export/{token}")) as response:
                assert response.status == 403
    finally:
        await server.close()


async def test_admin_export_without_a_public_url_explains_the_cli(console: ConsoleSession) -> None:
    await console.say("alice", "在")
    (reply,) = await console.say("root", "/管理 导出 2026-10-01 2026-12-31 csv")
    assert reply == (
        "bot: 未配置 server.public_url，无法生成下载链接。请在服务器上运行：\n"
        "  hubao export --group console:demo --from 2026-10-01 --to 2026-12-31 --format csv"
    )
    (default,) = await console.say("root", "/admin export")
    assert "--from 2026-10-01 --to 2026-11-23 --format xlsx" in default  # this quarter so far


async def test_admin_export_refuses_members_and_bad_dates(make_console: Any) -> None:
    console: ConsoleSession = await make_console(admins=("root",), **{"server.public_url": "https://b.example"})
    await console.say("alice", "在")
    assert await console.say("alice", "/admin export") == ["bot: 无权执行：此命令仅限管理员。"]
    (no_secret,) = await console.say("root", "/admin export")
    assert no_secret.startswith("bot: 未配置 export.secret")
    (bad,) = await console.say("root", "/admin export 11月1日")
    assert "日期请写成 2026-10-01" in bad
    (order,) = await console.say("root", "/admin export 2026-11-30 2026-11-01")
    assert "结束日期早于开始日期" in order


def test_links_are_signed_and_expire() -> None:
    token = sign_link(SECRET, 7, date(2026, 10, 1), date(2026, 12, 31), "csv", NOW)
    assert verify_link(SECRET, token, NOW - timedelta(seconds=1)) is not None
    wanted = verify_link(SECRET, token, NOW)
    assert wanted is not None and (wanted.group, wanted.fmt, wanted.first) == (7, "csv", date(2026, 10, 1))
    assert verify_link(SECRET, token, NOW + timedelta(seconds=1)) is None  # expired
    assert verify_link("another key", token, NOW) is None
    assert verify_link("", token, NOW) is None
    mac = token.partition(".")[2]
    other = sign_link(SECRET, 8, date(2026, 10, 1), date(2026, 12, 31), "csv", NOW).partition(".")[0]
    assert verify_link(SECRET, f"{other}.{mac}", NOW) is None  # another group under this signature
    assert verify_link(SECRET, "garbage", NOW) is None and verify_link(SECRET, "a.b", NOW) is None


async def test_a_point_earned_by_an_earlier_comment_names_an_event_in_the_sheet(console: ConsoleSession) -> None:
    await console.say("alice", "/risk 冷库温度偏高 @bob")  # Mon 11-23
    await console.say("carol", "/note #1 压缩机需要检修")
    console.clock.advance(timedelta(days=7))
    await console.say("bob", "/resolve #1 已检修")  # Mon 11-30: carol helped, with last week's comment
    book = load_workbook(io.BytesIO(await _export(console, "xlsx", date(2026, 11, 30), date(2026, 12, 6))))
    events = [[c.value for c in row] for row in book["events"].iter_rows(min_row=2)]
    assert [c.value for c in book["events"][1]][-1] == "in_period"
    assert [(e[3], e[5], e[7]) for e in events] == [("noted", "carol", False), ("resolved", "bob", True)]
    points = [[c.value for c in row] for row in book["points"].iter_rows(min_row=2)]
    helped = [p for p in points if p[3] == "help_resolve"]
    assert [(p[2], p[6]) for p in helped] == [("carol", events[0][0])]
    metrics = {row[0].value: row[1].value for row in book["metrics"].iter_rows(min_row=2)}
    assert metrics["new"] == 0 and metrics["resolved"] == 1  # the earlier event changes no figure
