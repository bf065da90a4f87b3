"""/readyz and /metrics of a whole bot report the WeCom long connection this instance holds."""

from __future__ import annotations

from typing import Any

import aiohttp

from hubao.adapters.wecom.adapter import WeComAdapter
from hubao.app import App
from tests.adapters.wecom.conftest import until
from tests.adapters.wecom.standin import WeComStandIn
from tests.harness import serve

UP = 'hubao_long_connection_up{platform="wecom"} 1.0'
DOWN = 'hubao_long_connection_up{platform="wecom"} 0.0'


async def build(make_app: Any, standin: WeComStandIn, transport: str) -> tuple[App, WeComAdapter]:
    values = {
        "enabled": True,
        "transport": transport,
        "bot_name": "RiskBot",
        "token": standin.token,
        "encoding_aes_key": standin.aes_key,
        "bot_id": standin.bot_id,
        "secret": standin.secret,
        "ws_url": standin.ws_url,
        "api_base": standin.base,
        "heartbeat_interval": 5.0,
        "reconnect_min": 0.02,
        "reconnect_max": 0.05,
        "lease_ttl": 3.0,
    }
    app: App = await make_app(**{f"wecom.{key}": value for key, value in values.items()})
    adapter = app.adapters["wecom"]
    assert isinstance(adapter, WeComAdapter)
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


async def test_readiness_follows_the_held_long_connection(make_app: Any, standin: WeComStandIn) -> None:
    app, adapter = await build(make_app, standin, "ws")
    assert adapter.connection is not None
    await adapter.start()
    await until(lambda: adapter.connection is not None and adapter.connection.is_online)
    status, body, metrics = await probe(app)
    assert status == 200 and body["checks"] == {"database": "ok", "wecom": "up"}
    assert UP in metrics

    # a second instance stands by without the lease: it has no connection of its own to report
    other, standby = await build(make_app, standin, "ws")
    await standby.start()
    await until(lambda: standby.connection is not None and standby.connection.state == "standby")
    assert standby.connection_up() is None
    status, body, metrics = await probe(other)
    assert status == 200 and body["checks"] == {"database": "ok"}
    assert 'hubao_long_connection_up{platform="wecom"}' not in metrics

    # WeCom drops the connection and refuses it back (the secret was rotated): not ready
    standin.secret = "rotated-secret"
    for conn in list(standin.connections):
        await conn.ws.close()
    await until(lambda: adapter.connection is not None and not adapter.connection.is_online)
    status, body, metrics = await probe(app)
    assert status == 503 and body["checks"]["wecom"] == "down"
    assert DOWN in metrics


async def test_http_transport_has_no_connection_to_report(make_app: Any, standin: WeComStandIn) -> None:
    app, adapter = await build(make_app, standin, "http")
    assert adapter.connection_up() is None
    status, body, _ = await probe(app)
    assert status == 200 and body["checks"] == {"database": "ok"}
