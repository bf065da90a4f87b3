"""The web board in a real Chromium (the operating system's, driven by Playwright), as people use it:
opened from the link in the chat, on a desktop and at a phone's viewport."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from hubao.web import links
from tests.web.browser import Tab, browser, needs_chromium, open_tab
from tests.web.conftest import Site

pytestmark = needs_chromium
SCRIPT_TITLE = '<script>alert(1)</script> "x"'


async def _seed(site: Site) -> None:
    """A group in every state, a second group with a secret, and a risk whose title is markup."""
    c = site.console
    for name in ("alice", "bob", "carol"):
        await c.say(name, "在")
    await c.say("alice", "/risk 仓库A库存低于安全线 可能性:4 影响:5 @bob #库存")
    await c.say("alice", "/risk 供应商合同未续签 P3 I4 @carol #采购")
    await c.say("bob", "/risk 机房空调滤网未更换 P2 I2 #设施 due:2h")
    await c.say("bob", "/ack #1")
    await c.advance("3h")
    await c.say("carol", "/risk 发票系统升级窗口未确认 P4 I5 @bob #财务")
    await c.say("alice", "/risk 新员工门禁卡未办理 @carol")
    await c.say("alice", "/risk 标题占位 P1 I1")
    async with c.app.db.command() as tx:  # stored as written, whatever path it came by
        await tx.execute("UPDATE risks SET content = ? WHERE group_id = 1 AND number = 6", SCRIPT_TITLE)
    await c.app.register_group("console", "other", "其他组")
    await c.say("dave", "/risk 绝密的其他组风险 P4 I5", chat="other")


async def _org_link(site: Site) -> str:
    async with site.console.app.db.command() as tx:
        grant = await links.new_grant(tx, site.console.app.config, links.ORG, 0, site.console.clock.now())
    return links.link_url(site.console.app.config, grant)


async def _goto(tab: Tab, url: str) -> int:
    response = await tab.page.goto(url)  # type: ignore[attr-defined]
    assert response is not None
    return int(response.status)


async def _texts(tab: Tab, selector: str) -> list[str]:
    return [t.strip() for t in await tab.page.locator(selector).all_inner_texts()]  # type: ignore[attr-defined]


async def test_a_link_from_board_web_opens_the_board_with_the_groups_risks(site: Site) -> None:
    await _seed(site)
    link = await site.link()
    async with browser() as chromium:
        tab = await open_tab(chromium)
        assert await _goto(tab, link) == 200
        assert tab.page.url == f"{site.base}/web/g/1/board"  # type: ignore[attr-defined]
        titles = await _texts(tab, "#board .card .title")
        assert "#1 仓库A库存低于安全线" in titles and "#4 发票系统升级窗口未确认" in titles
        assert not any("绝密" in t for t in titles)
        assert await _texts(tab, "#col-overdue .card .title") == ["#3 机房空调滤网未更换"]
        assert await _texts(tab, "#col-acknowledged .card .title") == ["#1 仓库A库存低于安全线"]
        assert tab.problems == []


async def test_the_heat_map_counts_equal_the_data_and_a_click_lists_exactly_that_cells_risks(site: Site) -> None:
    await _seed(site)
    async with browser() as chromium:
        tab = await open_tab(chromium)
        await _goto(tab, await site.link())
        await tab.page.click("header nav >> text=热力图")  # type: ignore[attr-defined]
        cells = tab.page.locator("table.heat-grid td a")  # type: ignore[attr-defined]
        shown = {}
        for index in range(await cells.count()):
            cell = cells.nth(index)
            key = (int(await cell.get_attribute("data-l")), int(await cell.get_attribute("data-i")))
            shown[key] = int((await cell.inner_text()).strip())
        expected = {(li, im): 0 for li in range(1, 6) for im in range(1, 6)}
        async with site.console.app.db.command() as tx:
            for li, im in await tx.fetch("SELECT likelihood, impact FROM risks WHERE group_id = 1 AND status != "
                                         "'resolved' AND likelihood IS NOT NULL"):  # fmt: skip
                expected[li, im] += 1
        assert shown == expected and expected[4, 5] == 2
        await tab.page.click('table.heat-grid a[data-l="4"][data-i="5"]')  # type: ignore[attr-defined]
        assert await _texts(tab, "#cell .card .title") == ["#1 仓库A库存低于安全线", "#4 发票系统升级窗口未确认"]
        await tab.page.click('table.heat-grid a[data-l="2"][data-i="2"]')  # type: ignore[attr-defined]
        assert await _texts(tab, "#cell .card .title") == ["#3 机房空调滤网未更换"]
        assert tab.problems == []


async def test_a_risk_page_shows_its_timeline(site: Site) -> None:
    await _seed(site)
    async with browser() as chromium:
        tab = await open_tab(chromium)
        await _goto(tab, await site.link())
        await tab.page.click("#board >> text=仓库A库存低于安全线")  # type: ignore[attr-defined]
        assert tab.page.url.endswith("/web/g/1/risk/1")  # type: ignore[attr-defined]
        timeline = await _texts(tab, "ol.timeline li")
        assert timeline[0].endswith("alice 登记") and timeline[1].endswith("bob 收到")
        assert "可能性 4 × 影响 5 = 20" in await tab.page.inner_text("dl.facts")  # type: ignore[attr-defined]
        await _goto(tab, f"{site.base}/web/g/1/risk/3")  # nobody answered: the bot reminded, then escalated
        timeline = await _texts(tab, "ol.timeline li")
        assert timeline[0].endswith("bob 登记")
        assert "系统 升级提醒（未响应，第1次） 提醒了 bob" in timeline[1]
        assert "系统 升级提醒（未解决，第1次） 提醒了 bob、alice" in timeline[2]  # owner, then the leader
        assert tab.problems == []


async def test_expired_forged_revoked_and_other_groups_links_show_the_403_page_and_no_data(site: Site) -> None:
    await _seed(site)
    c = site.console
    expired = await site.link()
    c.clock.advance(c.app.config.web.link_ttl + timedelta(minutes=1))
    revoked = await site.link()
    await c.say("alice", "/admin web revoke")
    valid = await site.link()
    forged = valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB")
    theirs = await site.link("dave", chat="other")
    async with browser() as chromium:
        for url, reason in ((expired, "已过期"), (forged, "无效"), (revoked, "已被吊销")):
            tab = await open_tab(chromium)
            assert await _goto(tab, url) == 403
            text = await tab.page.inner_text("body")  # type: ignore[attr-defined]
            assert reason in text and "/board web" in text and "仓库" not in text and "绝密" not in text
        tab = await open_tab(chromium)
        assert await _goto(tab, theirs) == 200  # the other group's own board…
        assert await _goto(tab, f"{site.base}/web/g/1/board") == 403  # …is not this one
        text = await tab.page.inner_text("body")  # type: ignore[attr-defined]
        assert "不能查看其他小组" in text and "仓库" not in text


async def test_a_title_written_as_markup_is_shown_as_text(site: Site) -> None:
    await _seed(site)
    async with browser() as chromium:
        tab = await open_tab(chromium)
        dialogs: list[str] = []
        tab.page.on("dialog", lambda dialog: dialogs.append(dialog.message))  # type: ignore[attr-defined]
        await _goto(tab, await site.link())
        assert f"#6 {SCRIPT_TITLE}" in await _texts(tab, "#board .card .title")
        assert await tab.page.locator("#board script").count() == 0  # type: ignore[attr-defined]
        await _goto(tab, f"{site.base}/web/g/1/risk/6")
        assert await tab.page.inner_text("#risk-content") == SCRIPT_TITLE  # type: ignore[attr-defined]
        assert SCRIPT_TITLE in await tab.page.title()  # type: ignore[attr-defined]
        assert dialogs == [] and tab.problems == []


async def _all_pages(site: Site) -> list[str]:
    group = f"{site.base}/web/g/1"
    return [f"{group}/board", f"{group}/board?owner=console%3Abob", f"{group}/risk/1", f"{group}/heatmap",
            f"{group}/heatmap?l=4&i=5", f"{group}/trends", f"{group}/points", f"{site.base}/web/org"]  # fmt: skip


async def test_no_page_scrolls_sideways_at_a_phone_viewport(site: Site) -> None:
    await _seed(site)
    async with browser() as chromium:
        tab = await open_tab(chromium, phone=True)
        await _goto(tab, await _org_link(site))
        for url in await _all_pages(site):
            assert await _goto(tab, url) == 200
            widths = await tab.page.evaluate(  # type: ignore[attr-defined]
                "[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]"
            )
            assert widths[0] <= widths[2] and widths[1] <= widths[2], (url, widths)
        tab = await open_tab(chromium, phone=True)
        assert await _goto(tab, f"{site.base}/web/open/forged.token") == 403
        widths = await tab.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")  # type: ignore[attr-defined]
        assert widths[0] <= widths[1]


async def test_no_page_logs_a_console_error(site: Site) -> None:
    await _seed(site)
    async with browser() as chromium:
        for phone in (False, True):
            tab = await open_tab(chromium, phone=phone)
            await _goto(tab, await _org_link(site))
            for url in await _all_pages(site):
                await _goto(tab, url)
                await tab.page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
            assert tab.problems == []


async def test_the_board_refreshes_itself_without_reloading(make_site: Any) -> None:
    site: Site = await make_site(**{"web.refresh": "1s"})
    await _seed(site)
    async with browser() as chromium:
        tab = await open_tab(chromium)
        await _goto(tab, await site.link())
        page: Any = tab.page
        await page.evaluate("window.stillTheSamePage = true")
        await site.console.say("alice", "/risk 刚刚登记的新风险 P5 I5")
        await page.wait_for_selector("#board >> text=刚刚登记的新风险", timeout=10_000)
        assert await page.evaluate("window.stillTheSamePage === true")  # replaced in place, not reloaded
        assert await page.locator("form.filters").count() == 1
        assert tab.problems == []


async def test_screenshots_of_the_board_and_the_heat_map_with_chinese_fonts(site: Site, tmp_path: Path) -> None:
    """Also writes them to $HUBAO_SCREENSHOTS when set (the README's pictures come from here)."""
    await _seed(site)
    shots: list[Path] = []
    async with browser() as chromium:
        for phone in (False, True):
            tab = await open_tab(chromium, phone=phone)
            await _goto(tab, await site.link())
            await tab.page.evaluate("document.fonts.ready")  # type: ignore[attr-defined]
            suffix = "-phone" if phone else ""
            for name, url in (("board", f"{site.base}/web/g/1/board"),
                              ("heatmap", f"{site.base}/web/g/1/heatmap?l=4&i=5")):  # fmt: skip
                await _goto(tab, url)
                path = tmp_path / f"web-{name}{suffix}.png"
                await tab.page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
                shots.append(path)
            fonts = await tab.page.evaluate(  # type: ignore[attr-defined]
                "document.fonts.check('16px \"Noto Sans CJK SC\"', '仓库')"
            )
            assert fonts, "the CJK font (fonts-noto-cjk) is missing"
    for path in shots:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    target = os.environ.get("HUBAO_SCREENSHOTS")
    if target:
        for path in shots:
            shutil.copy(path, Path(target) / path.name)
