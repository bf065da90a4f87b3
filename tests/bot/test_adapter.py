"""The body reader every callback route uses, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from hubao.bot.adapter import read_body

LIMIT = 64


@pytest.fixture
async def echo() -> AsyncIterator[str]:
    """Answers with the length it read, or 413."""

    async def handle(request: web.Request) -> web.Response:
        body = await read_body(request, LIMIT)
        return web.Response(status=413) if body is None else web.Response(text=f"{len(body)}:{body.decode()}")

    app = web.Application()
    app.router.add_post("/", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/"))
    await server.close()


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
        await asyncio.sleep(0)


async def test_a_body_with_its_length_is_read_whole(echo: str) -> None:
    async with ClientSession() as http, http.post(echo, data=b"x" * LIMIT) as response:
        assert (response.status, await response.text()) == (200, f"{LIMIT}:{'x' * LIMIT}")


async def test_a_declared_length_over_the_limit_is_refused_unread(echo: str) -> None:
    async with ClientSession() as http, http.post(echo, data=b"x" * (LIMIT + 1)) as response:
        assert response.status == 413


async def test_a_chunked_body_is_read_whole(echo: str) -> None:
    async with ClientSession() as http, http.post(echo, data=_chunks(b'{"a":', b' "b"}')) as response:
        assert (response.status, await response.text()) == (200, '10:{"a": "b"}')


async def test_a_chunked_body_over_the_limit_is_refused(echo: str) -> None:
    async with ClientSession() as http, http.post(echo, data=_chunks(b"y" * 40, b"y" * 40)) as response:
        assert response.status == 413
