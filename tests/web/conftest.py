"""A bot with its web side on a loopback port: the console drives the chat, HTTP reads the pages."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from hubao.console import ConsoleSession

WEB_SECRET = "web-link-signing-key-for-tests-only"
_URL = re.compile(r"(https?://\S+/web/open/\S+)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Site:
    console: ConsoleSession
    server: TestServer
    base: str

    async def link(self, speaker: str = "alice", chat: str = "demo") -> str:
        """The link ``/board web`` gives in ``chat``."""
        blocks = await self.console.say(speaker, "/board web", chat=chat)
        found = _URL.search(blocks[-1])
        assert found, blocks
        return found.group(1)

    def client(self) -> aiohttp.ClientSession:
        """A browser-like client: keeps cookies (also for an IP address), follows redirects."""
        return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


@pytest.fixture
async def make_site(make_console: Any) -> AsyncIterator[Any]:
    servers: list[TestServer] = []

    async def build(**overrides: Any) -> Site:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        overrides.setdefault("web.secret", WEB_SECRET)
        overrides.setdefault("server.public_url", base)
        console: ConsoleSession = await make_console(admins=("root",), **overrides)
        server = TestServer(console.app.web_app(), host="127.0.0.1", port=port)
        await server.start_server()
        servers.append(server)
        return Site(console, server, base)

    yield build
    for server in servers:
        await server.close()


@pytest.fixture
async def site(make_site: Any) -> Site:
    return await make_site()
