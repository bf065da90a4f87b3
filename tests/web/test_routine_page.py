"""The web page of the register, the goals with 目标达成率 and the evaluation results, over HTTP."""

from __future__ import annotations

import html
import re

import aiohttp

from tests.web.conftest import Site


async def _page(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as response:
        assert response.status == 200, url
        return html.unescape(await response.text())


async def test_the_routine_page_shows_the_register_goals_with_their_rate_and_survey_results(site: Site) -> None:
    c = site.console
    for name in ("alice", "bob", "carol"):  # Monday 2026-11-23 09:00; alice leads
        await c.say(name, "在")
    await c.say("alice", "/register add 机房断电 !高 触发:UPS 告警 应对:切换备用机房 @bob")
    await c.say("alice", "/goal add 全量备份校验 due:2026-11-24 @bob")
    await c.say("alice", "/goal add 密钥轮换 due:2026-11-24")
    await c.say("alice", "/goal add 更新手册 due:2026-12-20")
    await c.say("bob", "/goal done G1")
    await c.say("alice", "/survey start 四季度评估")
    await c.say("bob", "/survey answer 4 5 3 <script>alert(1)</script>")
    await c.say("carol", "/survey answer 2 3 4")
    await c.say("alice", "/survey end")
    await c.advance("2d")  # G1 achieved by its due time, G2 missed, G3 not due yet: 1 / 2
    async with site.client() as http:
        await _page(http, await site.link())
        body = await _page(http, f"{site.base}/web/g/1/routine")
    register = re.search(r'<tr data-entry="1">.*?</tr>', body, re.S)
    assert register is not None
    cells = [cell for cell in re.sub(r"<[^>]+>", "|", register.group(0)).split("|") if cell]
    assert cells == ["R1", "机房断电", "高", "UPS 告警", "切换备用机房", "bob"]
    assert "2026 Q4 · 目标达成率：50%（按期达成 1 / 到期 2）" in body
    goals = re.findall(r'<tr data-goal="(\d)">.*?<td>(.*?)</td>.*?<td>(已达成|已过期|进行中)</td>', body, re.S)
    assert goals == [("1", "全量备份校验", "已达成"), ("2", "密钥轮换", "已过期"), ("3", "更新手册", "进行中")]
    assert "作答 2/3 人（匿名）" in body
    assert "责任是否清晰：平均 3.0（2 份）· 5分×0 4分×1 3分×0 2分×1 1分×0" in body
    async with site.client() as http:
        await _page(http, await site.link())
        async with http.get(f"{site.base}/web/g/1/routine") as response:
            raw = await response.text()
    assert "<script>alert" not in raw  # comments are shown as text


async def test_the_routine_page_of_another_group_is_refused(site: Site) -> None:
    await site.console.say("alice", "在")
    async with site.client() as http:
        await _page(http, await site.link())
        async with http.get(f"{site.base}/web/g/2/routine") as response:
            assert response.status == 403
