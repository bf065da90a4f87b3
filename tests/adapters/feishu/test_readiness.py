"""/readyz and /metrics of a whole bot report the Feishu long connection's state."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from hubao.adapters.feishu.adapter import FeishuAdapter
from hubao.app import App
from tests.harness import serve

from .conftest import settings_for
from .standin import FeishuStandIn

UP = 'hubao_long_connection_up{platform="feishu"} 1.0'
DOWN = 'hubao_long_connection_up{platform="feishu"} 0.0'


async def build(make_app: Any, standin: FeishuStandIn, transport: str) -> tuple[App, FeishuAdapter]:
    values = settings_for(standin, transport=transport).model_dump()
    app: App = await make_app(**{f"feishu.{key}": value for key, value in values.items()})
    adapter = app.adapters["feishu"]
    assert isinstance(adapter, FeishuAdapter)
    return app, adapter


async def probe(app: App) -> tuple[int, dict[str, Any], str]:
    server = await serve(app)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(server.make_url("/readyz")) as response:
                status, body = response.status, await response.json()
            async with http.get(server.make_url("/metrics")) as response:
                metrics = await response.text()
    finally:
        await server.close()
    return status, body, metrics


async def until(predicate: Any, limit: float = 15.0) -> None:
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - state owned by the connection task on real sockets
            await asyncio.sleep(0.01)


async def test_readiness_follows_the_long_connection(make_app: Any, standin: FeishuStandIn) -> None:
    app, adapter = await build(make_app, standin, "long_connection")
    await adapter.start()
    await until(lambda: adapter.connection_up() is True)
    status, body, metrics = await probe(app)
    assert status == 200 and body["checks"] == {"database": "ok", "feishu": "up"}
    assert UP in metrics

    standin.ws_refuse = True  # Feishu drops the connection and will not take it back for now
    await standin.drop_connections()
    await until(lambda: adapter.connection_up() is False)
    status, body, metrics = await probe(app)
    assert status == 503 and body["checks"]["feishu"] == "down"
    assert DOWN in metrics

    standin.ws_refuse = False
    await until(lambda: adapter.connection_up() is True)
    status, _, metrics = await probe(app)
    assert status == 200 and UP in metrics


async def test_http_transport_has_no_connection_to_report(make_app: Any, standin: FeishuStandIn) -> None:
    app, adapter = await build(make_app, standin, "http")
    assert adapter.connection_up() is None
    status, body, metrics = await probe(app)
    assert status == 200 and body["checks"] == {"database": "ok"}
    assert 'hubao_long_connection_up{platform="feishu"}' not in metrics
