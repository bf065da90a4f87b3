"""The organisation page shows each group's cross-group requests of the last four weeks."""

from __future__ import annotations

import html
import re

import aiohttp

from hubao.web import links
from tests.web.conftest import Site


async def _page(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as response:
        assert response.status == 200, url
        return await response.text()


async def test_the_organisation_page_counts_requests_sent_received_answered_and_overdue(site: Site) -> None:
    c = site.console
    await c.say("alice", "在")
    await c.say("root", "/admin setup 仓储组 @wendy", chat="wh")
    await c.say("xu", "在", chat="wh")
    await c.say("wendy", "/duty set @xu", chat="wh")
    await c.app.register_group("console", "quiet", "安静组")
    await c.say("alice", "/request 仓储组 补货")
    await c.say("alice", "/request 仓储组 盘点 due:2h")
    await c.say("xu", "/ack #1", chat="wh")
    await c.advance("3h")
    async with c.app.db.command() as tx:
        grant = await links.new_grant(tx, c.app.config, links.ORG, 0, c.clock.now())
    async with site.client() as http:
        await _page(http, links.link_url(c.app.config, grant))
        body = html.unescape(await _page(http, f"{site.base}/web/org"))
    row = r'<th scope="row"><a href="/web/g/\d+/board">(.*?)</a></th>.*?<td class="requests">(.*?)</td>'
    rows = dict(re.findall(row, body, re.S))
    assert "跨组协同（近4周）" in body
    assert rows["互保演示组"] == "发出 2 · 收到 0 · 按时响应 1 · 逾期 1"
    assert rows["仓储组"] == "发出 0 · 收到 2 · 按时响应 1 · 逾期 1"
    assert rows["安静组"] == "无"
