"""What each page shows, read over HTTP: board columns and filters, a risk's timeline, the heat
map's counts, trends and points from the same figures as the chat, the organisation page."""

from __future__ import annotations

import html
import re
from collections import Counter
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from hubao.handlers.metrics import Period, PointRules, compute
from hubao.handlers.reports import week_of
from hubao.storage.reports import load_history
from hubao.web import links
from tests.web.conftest import Site


async def _page(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as response:
        assert response.status == 200, url
        return await response.text()


def _column(body: str, name: str) -> list[int]:
    section = re.search(rf'<section class="column col-{name}".*?</section>', body, re.S)
    assert section, name
    return [int(n) for n in re.findall(r'data-number="(\d+)"', section.group(0))]


async def _busy_group(site: Site) -> None:
    """Five risks in every state: #1 acknowledged, #2 snoozed, #3 overdue, #4 open, #5 resolved."""
    c = site.console
    for name in ("alice", "bob", "carol"):
        await c.say(name, "在")
    await c.say("alice", "/risk 仓库漏水 @bob 可能性:4 影响:5 #库存")
    await c.say("alice", "/risk 合同未续签 @carol P3 I4 #采购")
    await c.say("bob", "/risk 空调滤网 P2 I2 #设施 due:2h")
    await c.say("bob", "/ack #1")
    await c.say("carol", "/snooze #2 5h")
    await c.advance("3h")
    await c.say("carol", "/risk 门禁卡未办 @bob !低")
    await c.say("alice", "/risk 发票未开 @carol P1 I1 #财务")
    await c.say("carol", "/resolve #5 已开")


async def test_the_board_puts_each_open_risk_in_its_column_and_folds_this_weeks_resolved(site: Site) -> None:
    await _busy_group(site)
    async with site.client() as http:
        await _page(http, await site.link())
        body = await _page(http, f"{site.base}/web/g/1/board")
        assert {name: _column(body, name) for name in ("open", "acknowledged", "snoozed", "overdue")} == {
            "open": [4], "acknowledged": [1], "snoozed": [2], "overdue": [3],
        }  # fmt: skip
        folded = re.search(r'<details class="resolved">.*?</details>', body, re.S)
        assert folded and "本周已解决 1 项" in folded.group(0) and 'data-number="5"' in folded.group(0)
        assert "逾期 1小时" in body and "高 4×5" in body and "#库存" in body
        assert "未解决 4 项 · 逾期 1 项" in body


async def test_the_board_filters_by_owner_tag_and_level(site: Site) -> None:
    await _busy_group(site)
    async with site.client() as http:
        await _page(http, await site.link())

        async def numbers(query: str) -> list[int]:
            body = await _page(http, f"{site.base}/web/g/1/board?{query}")
            return sorted(int(n) for n in re.findall(r'data-number="(\d+)"', body))

        assert await numbers("owner=console%3Abob") == [1, 3, 4]
        assert await numbers("tag=%E9%87%87%E8%B4%AD") == [2]  # 采购
        assert await numbers("level=low") == [3, 4, 5]  # #5 is in the folded resolved list
        assert await numbers("owner=console%3Abob&level=high") == [1]
        assert await numbers("level=%3Cscript%3E") == [1, 2, 3, 4, 5]  # not a level: no filter
        assert await numbers("owner=nobody") == []


async def test_the_board_fragment_is_what_the_page_refreshes(site: Site) -> None:
    await _busy_group(site)
    async with site.client() as http:
        await _page(http, await site.link())
        fragment = await _page(http, f"{site.base}/web/g/1/board?fragment=1")
    assert "<html" not in fragment and "<form" not in fragment
    assert _column(fragment, "overdue") == [3]


async def test_a_risk_page_shows_its_whole_timeline_from_the_event_log(site: Site) -> None:
    c = site.console
    await c.say("alice", "在")
    await c.say("bob", "在")
    await c.say("alice", "/risk 仓库漏水 @bob")
    await c.advance("61m")  # nobody answered: the respond step pings bob
    await c.say("bob", "/ack #1")
    await c.say("alice", "/note #1 供应商周三到货")
    await c.say("alice", "/assess #1 P4 I5")
    await c.say("bob", "/resolve #1 已补货")
    async with site.client() as http:
        await _page(http, await site.link())
        body = html.unescape(await _page(http, f"{site.base}/web/g/1/risk/1"))
    timeline = r'<li><time>(.*?)</time> <span class="who">(.*?)</span> <span class="what">(.*?)</span>(.*?)</li>'
    items = re.findall(timeline, body)
    assert [(who, what) for _at, who, what, _extra in items] == [
        ("alice", "登记"),
        ("系统", "升级提醒（未响应，第1次）"),
        ("bob", "收到"),
        ("alice", "备注：供应商周三到货"),
        ("alice", "评估：可能性 4 × 影响 5 = 20 → 高"),
        ("bob", "解决：已补货"),
    ]
    assert "提醒了 bob" in items[1][3]
    assert [at for at, *_ in items][:2] == ["11-23 09:00", "11-23 10:00"]
    assert "可能性 4 × 影响 5 = 20" in body and "已补货" in body


async def test_the_heat_map_counts_equal_the_open_risks(site: Site) -> None:
    c = site.console
    written = [(4, 5), (4, 5), (4, 5), (1, 1), (3, 2), (5, 5), (2, 4)]
    for n, (li, im) in enumerate(written, start=1):
        await c.say("alice", f"/risk 风险{n} P{li} I{im} #{'甲' if n % 2 else '乙'}")
    await c.say("alice", "/risk 没评估")
    await c.say("alice", "/resolve #6")  # the 5×5 one is resolved: not on the map
    async with site.client() as http:
        await _page(http, await site.link())
        body = await _page(http, f"{site.base}/web/g/1/heatmap")
        cells = {(int(li), int(im)): int(n) for li, im, n in
                 re.findall(r'data-l="(\d)" data-i="(\d)"[^>]*>(\d+)</a>', body)}  # fmt: skip
        expected = Counter(written[:5] + written[6:])
        assert len(cells) == 25
        assert cells == {(li, im): expected.get((li, im), 0) for li in range(1, 6) for im in range(1, 6)}
        assert "未评估的未解决风险：1 项" in body
        tags = dict(re.findall(r'<th scope="row">(.)</th>((?:<td[^>]*>\d+</td>){3})', body))
        assert set(tags) == {"甲", "乙"}
        chosen = await _page(http, f"{site.base}/web/g/1/heatmap?l=4&i=5")
        listed = re.search(r'<section id="cell".*?</section>', chosen, re.S)
        assert listed and sorted(map(int, re.findall(r'data-number="(\d+)"', listed.group(0)))) == [1, 2, 3]
        assert "可能性 4 × 影响 5 的风险（3 项）" in chosen


async def test_members_by_week_count_the_deadlines_missed_each_week(site: Site) -> None:
    c = site.console
    await c.say("alice", "在")
    await c.say("bob", "在")
    await c.say("alice", "/risk 一 @bob due:1h")
    await c.say("alice", "/risk 二 @bob due:2h")
    await c.say("alice", "/risk 三 @alice due:3h")
    await c.advance("1h30m")
    await c.say("bob", "/resolve #2")  # in time: not missed
    await c.advance("8d")
    async with site.client() as http:
        await _page(http, await site.link())
        body = await _page(http, f"{site.base}/web/g/1/heatmap")
    table = re.search(r'<table class="plain heat-weeks" id="member-weeks">.*?</table>', body, re.S)
    assert table
    rows = {name: [int(n) for n in re.findall(r">(\d+)</td>", cells)]
            for name, cells in re.findall(r'<th scope="row">(.*?)</th>(.*?)</tr>', table.group(0))}  # fmt: skip
    assert rows["bob"] == [0, 0, 0, 0, 0, 0, 1, 0] and rows["alice"] == [0, 0, 0, 0, 0, 0, 1, 0]


async def test_trends_show_the_same_figures_as_the_metrics_for_twelve_weeks(site: Site) -> None:
    c = site.console
    await c.say("alice", "在")
    await c.say("bob", "在")
    await c.say("alice", "/risk 上周的 @bob")
    await c.advance("30m")
    await c.say("bob", "/ack #1")
    await c.advance("7d")
    await c.say("alice", "/risk 本周的 @bob")
    await c.say("bob", "/resolve #1")
    async with site.client() as http:
        await _page(http, await site.link())
        body = await _page(http, f"{site.base}/web/g/1/trends")
    assert body.count("<svg") == 3 and "<polyline" in body
    rows = re.findall(r'<tr><th scope="row">(\d\d-\d\d)</th>(.*?)</tr>', body)
    assert len(rows) == 12 and rows[-1][0] == "11-30" and rows[-2][0] == "11-23"
    now = c.clock.now()
    zone = ZoneInfo("Asia/Shanghai")
    week = week_of(now, zone)
    async with c.app.db.transaction() as session:
        risks, events = await load_history(session, [1], week.previous().start, week.end)
    for period, (_label, cells) in ((week.previous(), rows[-2]), (week, rows[-1])):
        f = compute(risks[1], events.get(1, []), period, now, PointRules())
        numbers = [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', cells)[:3]]
        assert numbers == [f.new, f.resolved, len(f.overdue)]
    assert "30分钟" in rows[-2][1]  # the median response of last week


async def test_points_page_shows_the_week_and_quarter_boards_with_stars_and_reasons(site: Site) -> None:
    c = site.console
    await c.say("alice", "在")
    await c.say("bob", "在")
    await c.say("alice", "/risk 仓库漏水 @bob")
    await c.say("bob", "/ack #1")
    await c.say("bob", "/resolve #1")
    async with site.client() as http:
        await _page(http, await site.link())
        body = html.unescape(await _page(http, f"{site.base}/web/g/1/points"))
    assert "<h2>本周</h2>" in body and "<h2>本季度</h2>" in body
    assert body.count("互保之星：bob") == 2
    assert "#1 按时解决 +3" in body and "#1 提醒的风险被解决 +2" in body and "#1 按时收到 +1" in body
    assert "积分规则" in body


async def test_the_organisation_page_lists_every_group_sortable_with_a_groups_by_weeks_map(site: Site) -> None:
    c = site.console
    await c.say("alice", "/risk 演示组的 due:1h")
    for chat, name in (("b", "乙组"), ("a", "甲组")):
        await c.app.register_group("console", chat, name)
        await c.say(f"lead-{chat}", f"/risk {name}的风险一 due:1h", chat=chat)
    await c.say("lead-a", "/risk 甲组的风险二", chat="a")
    await c.advance("2h")
    now = c.clock.now()
    async with c.app.db.command() as tx:
        grant = await links.new_grant(tx, c.app.config, links.ORG, 0, now)
    async with site.client() as http:
        await _page(http, links.link_url(c.app.config, grant))

        async def order(query: str) -> list[str]:
            body = await _page(http, f"{site.base}/web/org?{query}")
            table = re.search(r'<table class="plain sortable" id="groups">.*?</table>', body, re.S)
            assert table
            return re.findall(r'<th scope="row"><a href="/web/g/\d+/board">(.*?)</a>', table.group(0))

        assert await order("sort=name&dir=asc") == ["乙组", "互保演示组", "甲组"]  # code point order
        assert (await order("sort=open&dir=desc"))[0] == "甲组"
        assert await order("sort=nonsense") == await order("sort=overdue&dir=desc")
        body = await _page(http, f"{site.base}/web/org")
        assert "共 3 个小组" in body
        heat = re.search(r'id="group-weeks">.*?</table>', body, re.S)
        assert heat and heat.group(0).count('<th scope="row">') == 3


async def test_pages_speak_english_for_an_english_group(make_site: Any) -> None:
    site: Site = await make_site(**{"bot.locale": "en"})
    await site.console.say("alice", "/risk water leak")
    async with site.client() as http:
        await _page(http, await site.link())
        body = await _page(http, f"{site.base}/web/g/1/board")
    assert '<html lang="en">' in body and "Waiting" in body and "Overdue" in body


async def test_the_organisation_rates_are_the_metrics_of_the_last_four_weeks(site: Site) -> None:
    c = site.console
    for name in ("alice", "bob", "carol"):
        await c.say(name, "在")
    await c.say("bob", "/risk 按时独自解决")
    await c.say("alice", "/risk 逾期协同解决 @bob due:1h")
    await c.say("alice", "/risk 仍未解决 @carol")
    await c.say("bob", "/resolve #1")
    await c.advance("2h")
    await c.say("carol", "/note #2 我来帮忙")
    await c.say("bob", "/resolve #2")  # resolved this very moment: counted too
    now = c.clock.now()
    period = Period(now - timedelta(days=28), now + timedelta(microseconds=1))
    async with c.app.db.transaction() as session:
        risks, events = await load_history(session, [1], period.start, period.end)
    expected = compute(risks[1], events.get(1, []), period, now, PointRules())
    assert (expected.on_time_rate, expected.collaboration_rate) == (0.5, 0.5)
    async with c.app.db.command() as tx:
        grant = await links.new_grant(tx, c.app.config, links.ORG, 0, now)
    async with site.client() as http:
        body = await _page(http, links.link_url(c.app.config, grant))
    row = re.search(r'<th scope="row"><a href="/web/g/1/board">互保演示组</a></th>(.*?)</tr>', body, re.S)
    assert row
    cells = re.findall(r'<td class="num[^"]*">(.*?)</td>', row.group(1))
    assert cells == ["1", "0", "50%", "50%"]  # open, overdue, on time, together
