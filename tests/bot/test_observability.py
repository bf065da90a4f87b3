"""/healthz, /readyz, /metrics and request ids, over real loopback HTTP."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import ClientSession

from hubao.adapters.console import ConsoleAdapter, Said
from hubao.bot.adapter import Adapter
from hubao.bot.observability import JsonFormatter, request_id
from hubao.storage.db import Database
from tests.harness import serve


class _LongConnection(Adapter):
    platform = "wecom"

    def __init__(self) -> None:
        self.up = False

    def connection_up(self) -> bool | None:
        return self.up


async def test_health_readiness_and_metrics(make_app: Any) -> None:
    printed: list[str] = []
    console, link = ConsoleAdapter(printed.append), _LongConnection()
    app = await make_app(adapters={"console": console, "wecom": link})
    await app.register_group("console", "demo", "g")
    await app.dispatch(console.event(Said("alice", "/risk 库存低"), app.clock.now()))
    duplicate = console.event(Said("alice", "/list"), app.clock.now())
    await app.dispatch(duplicate)
    await app.dispatch(duplicate)
    server = await serve(app)
    try:
        async with ClientSession() as http:
            async with http.get(server.make_url("/healthz"), headers={"X-Request-Id": "abc123"}) as resp:
                assert resp.status == 200 and resp.headers["X-Request-Id"] == "abc123"
            async with http.get(server.make_url("/readyz")) as resp:
                body = await resp.json()
                assert resp.status == 503 and body["checks"] == {"database": "ok", "wecom": "down"}
            link.up = True
            async with http.get(server.make_url("/readyz")) as resp:
                assert resp.status == 200 and (await resp.json())["ready"] is True
            async with http.get(server.make_url("/metrics")) as resp:
                metrics = await resp.text()
                assert len(resp.headers["X-Request-Id"]) == 16
        assert 'hubao_inbound_events_total{outcome="handled",platform="console"} 2.0' in metrics
        assert 'hubao_inbound_events_total{outcome="duplicate",platform="console"} 1.0' in metrics
        assert 'hubao_outbox_messages{lane="reply",state="pending"} 2.0' in metrics
        assert 'hubao_command_seconds_count{platform="console"} 3.0' in metrics
        assert 'hubao_long_connection_up{platform="wecom"} 1.0' in metrics
        await app.deliver()
        async with ClientSession() as http, http.get(server.make_url("/metrics")) as resp:
            metrics = await resp.text()
        assert 'hubao_deliveries_total{platform="console",result="sent"} 2.0' in metrics
        assert 'state="pending"' not in metrics
        app.clock.advance(minutes=61)  # the risk is unanswered: one escalation step
        await app.sweep()
        async with ClientSession() as http, http.get(server.make_url("/metrics")) as resp:
            metrics = await resp.text()
        assert 'hubao_escalations_sent_total{step="respond"} 1.0' in metrics
        assert "hubao_sweep_seconds_count 1.0" in metrics
    finally:
        await server.close()


async def test_readiness_fails_when_the_database_is_unreachable(make_app: Any, tmp_path: Any) -> None:
    app = await make_app()
    await app.db.dispose()
    app.db = Database(f"sqlite+aiosqlite:///{tmp_path}/missing-dir/x.db")  # a file that cannot be opened
    server = await serve(app)
    try:
        async with ClientSession() as http, http.get(server.make_url("/readyz")) as resp:
            assert resp.status == 503
            assert (await resp.json())["checks"]["database"].startswith("unreachable")
    finally:
        await server.close()


def test_json_logs_carry_the_request_id() -> None:
    record = logging.LogRecord("hubao.test", logging.WARNING, __file__, 1, "sent %s", ("x",), None)
    token = request_id.set("feishu:evt_9")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["request_id"] == "feishu:evt_9" and line["message"] == "sent x" and line["level"] == "warning"


class _Refusing(Adapter):
    platform = "wecom"

    async def send(self, message: Any) -> None:
        from hubao.bot.adapter import DeliveryError

        raise DeliveryError("errcode 93000 invalid webhook url", retryable=False)


async def test_dead_messages_are_counted(make_app: Any) -> None:
    from hubao.bot.events import InboundEvent, User

    app = await make_app(adapters={"wecom": _Refusing()})
    await app.register_group("wecom", "chat", "g")
    await app.dispatch(InboundEvent("wecom", "chat", User("wecom:zs", "zs"), "/list", "m1", app.clock.now()))
    await app.deliver()
    metrics = app.metrics.render().decode()
    assert 'hubao_dead_messages_total{platform="wecom"} 1.0' in metrics
    assert 'hubao_deliveries_total{platform="wecom",result="dead"} 1.0' in metrics
