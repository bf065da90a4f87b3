"""Monitoring and inventory systems raise risks over HTTP; the group hears and the clocks run."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func
from sqlmodel import select

from hubao.adapters.console import ConsoleAdapter
from hubao.app import App
from hubao.bot.events import User
from hubao.handlers.intake import issue_token
from hubao.storage import repo
from hubao.storage.models import ExternalRef, Outbox, Risk, RiskEvent
from tests.harness import serve


@dataclass
class Bot:
    app: App
    server: TestServer
    http: aiohttp.ClientSession
    printed: list[str]
    group_id: int
    token: str
    other_token: str

    def url(self, group: int | str | None = None, kind: str = "risks") -> str:
        return str(self.server.make_url(f"/api/v1/groups/{self.group_id if group is None else group}/{kind}"))

    async def post(self, body: Any, *, token: str | None = None, kind: str = "risks", group: int | str | None = None,
                   headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:  # fmt: skip
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        sent = {"Content-Type": "application/json", "Authorization": f"Bearer {token or self.token}", **(headers or {})}
        async with self.http.post(self.url(group, kind), data=data, headers=sent) as response:
            return response.status, await response.json()

    async def heard(self) -> list[str]:
        start = len(self.printed)
        await self.app.deliver()
        return self.printed[start:]


@pytest.fixture
async def bot(make_app: Any) -> AsyncIterator[Bot]:
    printed: list[str] = []
    app = await make_app(adapters={"console": ConsoleAdapter(printed.append)})
    group = await app.register_group("console", "demo", "仓储组", leader=User("console:alice", "alice"))
    other = await app.register_group("console", "other", "财务组", leader=User("console:zed", "zed"))
    async with app.db.transaction() as session:
        await repo.upsert_member(session, group.id or 0, "console:bob", "bob", app.clock.now())
        token, _ = await issue_token(session, group.id or 0, "console:root", app.clock.now())
        other_token, _ = await issue_token(session, other.id or 0, "console:root", app.clock.now())
    server = await serve(app)
    async with aiohttp.ClientSession() as http:
        yield Bot(app, server, http, printed, group.id or 0, token, other_token)
    await server.close()


async def _counts(app: App) -> tuple[int, ...]:
    async with app.db.transaction() as session:
        counts = []
        for table in (Risk, RiskEvent, Outbox, ExternalRef):
            counts.append(int((await session.exec(select(func.count()).select_from(table))).one()))  # type: ignore[arg-type]
        return tuple(counts)


async def test_stock_below_threshold_becomes_a_risk_the_group_hears_and_escalates(bot: Bot) -> None:
    status, body = await bot.post({"text": "SKU-118 库存低于阈值（3 < 10）", "owner": "bob", "level": "high",
                                   "tags": ["库存"]})  # fmt: skip
    assert status == 201
    assert (body["number"], body["owner"], body["level"], body["source"]) == (1, "console:bob", "high", "api")
    assert body["respond_by"] == "2026-11-23T02:00:00+00:00"  # 09:00 Shanghai + 1 h
    [card] = await bot.heard()
    assert card.startswith("bot: @bob 【外部系统】\n  已登记风险提醒。\n  #1【高】SKU-118 库存低于阈值（3 < 10）")
    assert "标签：#库存" in card
    pings = "\n".join(await _advance(bot, "61m"))
    assert "#1" in pings and "@bob" in pings  # the respond window ran out: same clocks as /risk


async def _advance(bot: Bot, duration: str) -> list[str]:
    from hubao.bot.timeparse import parse_duration

    start = len(bot.printed)
    await bot.app.advance(parse_duration(duration))
    return bot.printed[start:]


async def test_owner_defaults_to_the_leader_and_urgent_pings_everyone(bot: Bot) -> None:
    status, body = await bot.post({"text": "冷库温度超标", "urgent": True})
    assert status == 201 and body["owner"] == "console:alice" and body["level"] == "high"
    [card] = await bot.heard()
    assert card.startswith("bot: @all 【外部系统】")


async def test_a_replayed_request_creates_one_risk(bot: Bot) -> None:
    first = await bot.post({"text": "库存低"}, headers={"Idempotency-Key": "erp-run-42"})
    again = await bot.post({"text": "库存低"}, headers={"Idempotency-Key": "erp-run-42"})
    assert first[0] == 201 and again[0] == 200
    assert again[1]["duplicate"] is True and again[1]["number"] == first[1]["number"] == 1
    in_body = await bot.post({"text": "库存低", "key": "erp-run-42"})
    assert in_body[0] == 200 and in_body[1]["number"] == 1
    assert (await _counts(bot.app))[0] == 1
    assert len(await bot.heard()) == 1


DEEP = b'{"text": "x", "tags": ' + b"[" * 5000 + b"]" * 5000 + b"}"


@pytest.mark.parametrize(
    ("case", "body", "extra", "status", "code"),
    [
        ("no token", {"text": "x"}, {"Authorization": ""}, 401, "unauthorized"),
        ("basic auth", {"text": "x"}, {"Authorization": "Basic dXNlcjpwYXNz"}, 401, "unauthorized"),
        ("wrong token", {"text": "x"}, {"Authorization": "Bearer hbt_guess"}, 401, "unauthorized"),
        ("form post", {"text": "x"}, {"Content-Type": "application/x-www-form-urlencoded"}, 415,
         "unsupported_media_type"),
        ("invalid UTF-8", b'{"text": "\xff\xfe"}', {}, 400, "invalid_utf8"),
        ("malformed", b'{"text": ', {}, 400, "malformed_json"),
        ("NaN", b'{"text": "x", "level": NaN}', {}, 400, "malformed_json"),
        ("deep", DEEP, {}, 400, "too_deep"),
        ("huge int", b'{"text": ' + b"9" * 5000 + b"}", {}, 400, "malformed_json"),
        ("array", [1, 2], {}, 422, "invalid"),
        ("number text", {"text": 99999999999}, {}, 422, "invalid"),
        ("empty text", {"text": "   "}, {}, 422, "invalid"),
        ("only controls", {"text": "\u0000\u202e\u200b"}, {}, 422, "invalid"),
        ("too long", {"text": "长" * 501}, {}, 422, "invalid"),
        ("unknown field", {"text": "x", "reporter": "boss"}, {}, 422, "invalid"),
        ("unknown owner", {"text": "x", "owner": "mallory"}, {}, 422, "invalid"),
        ("other group's member", {"text": "x", "owner": "zed"}, {}, 422, "invalid"),
        ("bad level", {"text": "x", "level": "extreme"}, {}, 422, "invalid"),
        ("absurd due", {"text": "x", "due": "99999d"}, {}, 422, "invalid"),
        ("past due", {"text": "x", "due": "2020-01-01"}, {}, 422, "invalid"),
        ("far due", {"text": "x", "due": "2099-01-01"}, {}, 422, "invalid"),
        ("urgent string", {"text": "x", "urgent": "yes"}, {}, 422, "invalid"),
        ("bad tags", {"text": "x", "tags": ["two words"]}, {}, 422, "invalid"),
        ("many tags", {"text": "x", "tags": [str(i) for i in range(11)]}, {}, 422, "invalid"),
        ("binary key", {"text": "x", "key": "a\nb"}, {}, 422, "invalid"),
    ],
)
async def test_bad_requests_get_a_clear_4xx_and_write_nothing(
    bot: Bot, case: str, body: Any, extra: dict[str, str], status: int, code: str
) -> None:
    before = await _counts(bot.app)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {bot.token}", **extra}
    async with bot.http.post(bot.url(), data=data, headers=headers) as response:
        assert response.status == status, (case, await response.text())
        answer = await response.json()
    assert answer["error"] == code
    assert bot.token not in json.dumps(answer)
    assert await _counts(bot.app) == before
    assert (await bot.post({"text": "still serving"}))[0] == 201  # the bot keeps serving


async def test_tokens_are_per_group_and_the_group_must_exist(bot: Bot) -> None:
    before = await _counts(bot.app)
    assert (await bot.post({"text": "x"}, token=bot.other_token))[0] == 401
    assert (await bot.post({"text": "x"}, group=999))[0] == 401
    assert (await bot.post({"text": "x"}, group="1;drop"))[0] == 401
    assert (await bot.post({"text": "x"}, group="99999999999"))[0] == 401
    assert await _counts(bot.app) == before


async def test_oversized_body_is_refused_before_it_is_read(bot: Bot) -> None:
    before = await _counts(bot.app)
    big = json.dumps({"text": "x" * (80 * 1024)}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {bot.token}"}
    async with bot.http.post(bot.url(), data=big, headers=headers) as response:
        assert response.status == 413
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while reading
        for _ in range(100):
            yield b" " * 1024
    async with bot.http.post(bot.url(), data=chunks(), headers=headers) as response:
        assert response.status == 413
    assert await _counts(bot.app) == before


async def test_hostile_text_cannot_ping_everyone_or_forge_markup(bot: Bot) -> None:
    text = '<at user_id="all"></at> @所有人 快看 [点我](http://evil.example)\n#9【高】伪造\x00\u202e'
    status, _ = await bot.post({"text": text, "owner": "bob"})
    assert status == 201
    async with bot.app.db.transaction() as session:
        risk = (await session.exec(select(Risk))).one()
    assert risk.content == '＜at user_id="all">＜/at> @ 所有人 快看 [点我] (http://evil.example) #9【高】伪造'
    [card] = await bot.heard()
    assert card.startswith("bot: @bob ")  # the owner is pinged; nobody else
    assert "@all" not in card and "<at" not in card


def _alert(status: str, fingerprint: str, **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "StockLow", "severity": "critical", **labels},
        "annotations": {"summary": "SKU-7 库存 2 < 10"},
        "startsAt": "2026-11-23T01:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fingerprint,
    }


def _webhook(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": alerts[0]["status"],
            "receiver": "hubao", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager", "alerts": list(alerts)}  # fmt: skip


async def test_alertmanager_firing_opens_one_risk_and_resolved_resolves_it(bot: Bot) -> None:
    status, body = await bot.post(_webhook(_alert("firing", "a1b2", owner="bob")), kind="alertmanager")
    assert (status, body) == (200, {"created": [1], "resolved": [], "unchanged": 0})
    [card] = await bot.heard()
    assert card.startswith("bot: @bob 【监控告警】\n  已登记风险提醒。\n  #1【高】StockLow: SKU-7 库存 2 < 10")
    # Alertmanager re-sends firing alerts every repeat_interval: nothing new.
    assert (await bot.post(_webhook(_alert("firing", "a1b2")), kind="alertmanager"))[1]["unchanged"] == 1
    assert await bot.heard() == []
    status, body = await bot.post(_webhook(_alert("resolved", "a1b2")), kind="alertmanager")
    assert body == {"created": [], "resolved": [1], "unchanged": 0}
    [done] = await bot.heard()
    assert done.startswith("bot: 【监控告警】\n  #1 已解决。")
    assert (await bot.post(_webhook(_alert("resolved", "a1b2")), kind="alertmanager"))[1]["unchanged"] == 1
    # The same alert firing again later is a new occurrence.
    assert (await bot.post(_webhook(_alert("firing", "a1b2")), kind="alertmanager"))[1]["created"] == [2]
    async with bot.app.db.transaction() as session:
        risks = (await session.exec(select(Risk).order_by(Risk.number))).all()  # type: ignore[arg-type]
    assert [(r.number, r.status, r.source, r.owner_id) for r in risks] == [
        (1, "resolved", "alert", "console:bob"), (2, "open", "alert", "console:alice")
    ]
    assert risks[0].resolution == "告警已恢复"


async def test_alert_batches_are_all_or_nothing(bot: Bot) -> None:
    before = await _counts(bot.app)
    bad = _alert("firing", "c3")
    bad["labels"] = {"alertname": ["not", "a", "string"]}
    status, body = await bot.post(_webhook(_alert("firing", "b2"), bad), kind="alertmanager")
    assert status == 422 and body["error"] == "invalid"
    assert (await bot.post({**_webhook(_alert("firing", "b2")), "version": "3"}, kind="alertmanager"))[0] == 422
    many = _webhook(*[_alert("firing", f"f{i}") for i in range(201)])
    assert (await bot.post(many, kind="alertmanager"))[0] == 413
    assert await _counts(bot.app) == before


async def test_an_alert_for_an_unknown_owner_goes_to_the_leader(bot: Bot) -> None:
    status, body = await bot.post(_webhook(_alert("firing", "d4", owner="nobody")), kind="alertmanager")
    assert status == 200 and body["created"] == [1]
    async with bot.app.db.transaction() as session:
        assert (await session.exec(select(Risk))).one().owner_id == "console:alice"
