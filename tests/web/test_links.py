"""Links from the chat open the board; sessions reach only their own group; bad links get the 403 page."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from hubao.web import links
from tests.web.conftest import WEB_SECRET, Site

OTHER = "other"


async def _two_groups(site: Site) -> tuple[int, int]:
    """demo (alice leads; risk #1 仓库漏水) and other (dave leads; risk #1 绝密的其他组风险)."""
    console = site.console
    await console.say("alice", "/risk 仓库漏水 @bob P4 I5")
    other = await console.app.register_group("console", OTHER, "其他组")
    await console.say("dave", "/risk 绝密的其他组风险 P1 I1", chat=OTHER)
    await console.say("dave", "/risk 第二个绝密风险", chat=OTHER)
    assert other.id is not None
    return 1, other.id


async def _get(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, str, aiohttp.ClientResponse]:
    async with http.get(url, **kwargs) as response:
        return response.status, await response.text(), response


async def test_a_link_from_board_web_opens_the_group_board_and_leaves_no_token_in_the_url(site: Site) -> None:
    await _two_groups(site)
    link = await site.link()
    assert link.startswith(f"{site.base}/web/open/")
    async with site.client() as http:
        async with http.get(link, allow_redirects=False) as first:
            assert first.status == 303
            assert first.headers["Location"] == "/web/g/1/board"
            cookie = first.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/web" in cookie
        assert "Secure" not in cookie  # plain http on loopback
        status, body, response = await _get(http, link)
        assert status == 200 and str(response.url) == f"{site.base}/web/g/1/board"
        assert "仓库漏水" in body and "绝密" not in body
        assert link.rsplit("/", 1)[1] not in body


async def test_the_session_cookie_is_secure_behind_https(make_site: Any) -> None:
    site: Site = await make_site()
    link = await site.link()
    async with site.client() as http, http.get(link, allow_redirects=False,
                                               headers={"X-Forwarded-Proto": "https"}) as response:
        assert "Secure" in response.headers["Set-Cookie"]


@pytest.mark.parametrize(
    "spoil",
    [
        lambda token: token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),  # a changed signature
        lambda token: links.sign("another-key-entirely-123456", links.LINK,
                                 links.Grant("g", 1, 0, 4_000_000_000)),  # signed with another key
        lambda token: links.sign(WEB_SECRET, links.SESSION,
                                 links.Grant("g", 1, 0, 4_000_000_000)),  # a cookie value is no link
        lambda token: "x" * 400,
        lambda token: "not-a-token",
        lambda token: "%E4%BD%A0.%E5%A5%BD",
    ],
    ids=["changed-signature", "other-key", "cookie-as-link", "oversized", "garbage", "non-ascii"],
)
async def test_a_forged_link_gets_the_403_page_and_no_data(site: Site, spoil: Any) -> None:
    await _two_groups(site)
    token = (await site.link()).rsplit("/", 1)[1]
    async with site.client() as http:
        status, body, response = await _get(http, f"{site.base}/web/open/{spoil(token)}")
        assert status == 403
        assert "链接无效" in body and "/board web" in body
        assert "仓库漏水" not in body and "Set-Cookie" not in response.headers


async def test_an_expired_link_gets_the_403_page_that_says_how_to_get_a_new_one(site: Site) -> None:
    await _two_groups(site)
    link = await site.link()
    site.console.clock.advance(site.console.app.config.web.link_ttl + timedelta(seconds=1))
    async with site.client() as http:
        status, body, _ = await _get(http, link)
    assert status == 403 and "已过期" in body and "/看板 网页" in body and "仓库漏水" not in body


async def test_an_open_session_ends_with_its_time_to_live(site: Site) -> None:
    await _two_groups(site)
    link = await site.link()
    async with site.client() as http:
        assert (await _get(http, link))[0] == 200
        site.console.clock.advance(site.console.app.config.web.session_ttl + timedelta(seconds=1))
        status, body, _ = await _get(http, f"{site.base}/web/g/1/board")
    assert status == 403 and "仓库漏水" not in body


async def test_admin_web_revoke_turns_away_old_links_and_open_sessions(site: Site) -> None:
    await _two_groups(site)
    old = await site.link()
    async with site.client() as http:
        assert (await _get(http, old))[0] == 200
        blocks = await site.console.say("bob", "/admin web revoke")
        assert "无权执行" in blocks[0]
        blocks = await site.console.say("alice", "/admin web 吊销")
        assert "已吊销本群所有网页看板链接" in blocks[0]
        status, body, _ = await _get(http, f"{site.base}/web/g/1/board")
        assert status == 403 and "已被吊销" in body and "仓库漏水" not in body
        status, body, _ = await _get(http, old)
        assert status == 403 and "已被吊销" in body
        fresh = await site.link()
        status, body, _ = await _get(http, fresh)
        assert status == 200 and "仓库漏水" in body
    blocks = await site.console.say("alice", "/admin web 别的")
    assert "用法" in blocks[0]


async def test_revoking_one_group_leaves_the_other_groups_links_alone(site: Site) -> None:
    await _two_groups(site)
    theirs = await site.link("dave", chat=OTHER)
    await site.console.say("alice", "/admin web revoke")
    async with site.client() as http:
        status, body, _ = await _get(http, theirs)
    assert status == 200 and "绝密的其他组风险" in body


async def test_every_id_in_every_url_reaches_no_other_groups_data(site: Site) -> None:
    mine, other = await _two_groups(site)
    async with site.client() as http:
        assert (await _get(http, await site.link()))[0] == 200
        own_pages = ["board", "risk/1", "risk/2", "heatmap", "heatmap?l=1&i=1", "trends", "points"]
        for page in own_pages:  # the group's own pages answer, without the other group's data
            status, body, _ = await _get(http, f"{site.base}/web/g/{mine}/{page}")
            assert status in (200, 404) and "绝密" not in body, page
        for gid in (other, 0, 3, 999, 2**31):
            for page in own_pages:
                status, body, _ = await _get(http, f"{site.base}/web/g/{gid}/{page}")
                assert status == (404 if gid >= 10**9 else 403), (gid, page)  # ten digits are no group id
                assert "绝密" not in body and "仓库漏水" not in body
        for path in ("org", "org?sort=name", "g/-1/board", "g/1e3/board", "g/%31/board", "g/01/risk/1", "g/1/risk/-1",
                     "g/1/risk/1%20", "g/1/../2/board"):  # fmt: skip
            status, body, _ = await _get(http, f"{site.base}/web/{path}")
            assert "绝密" not in body, path
            assert status in (200, 403, 404), path


async def test_an_organisation_link_sees_every_group_and_a_group_link_does_not(site: Site) -> None:
    _, other = await _two_groups(site)
    now = site.console.clock.now()
    async with site.console.app.db.command() as tx:
        grant = await links.new_grant(tx, site.console.app.config, links.ORG, 0, now)
    org_link = links.link_url(site.console.app.config, grant)
    async with site.client() as http:
        async with http.get(org_link, allow_redirects=False) as response:
            assert response.headers["Location"] == "/web/org"
        status, body, _ = await _get(http, org_link)
        assert status == 200 and "其他组" in body and "互保演示组" in body
        status, body, _ = await _get(http, f"{site.base}/web/g/{other}/board")
        assert status == 200 and "绝密的其他组风险" in body
    async with site.client() as http:
        await _get(http, await site.link())
        status, body, _ = await _get(http, f"{site.base}/web/org")
        assert status == 403 and "其他组" not in body


async def test_every_answer_carries_the_security_headers(site: Site) -> None:
    await _two_groups(site)
    async with site.client() as http:
        await _get(http, await site.link())
        for path in ("g/1/board", "g/1/risk/1", "g/1/heatmap", "g/1/trends", "g/1/points", "g/2/board", "org",
                     "g/1/risk/99", "static/web.css", "static/board.js", "open/forged.x"):  # fmt: skip
            async with http.get(f"{site.base}/web/{path}") as response:
                headers = response.headers
                csp = headers["Content-Security-Policy"]
                assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
                assert "frame-ancestors 'none'" in csp
                assert headers["X-Frame-Options"] == "DENY" and headers["Referrer-Policy"] == "no-referrer", path


async def test_without_a_key_the_web_board_is_off(make_site: Any) -> None:
    site: Site = await make_site(**{"web.secret": ""})
    blocks = await site.console.say("alice", "/board web")
    assert "网页看板未开启" in blocks[0]
    async with site.client() as http:
        status, body, _ = await _get(http, f"{site.base}/web/open/anything.at-all")
    assert status == 403 and "未开启" in body


async def test_the_chat_board_and_the_weekly_summary_end_with_the_web_link(site: Site) -> None:
    await _two_groups(site)
    (board,) = await site.console.say("alice", "/list")
    assert re.search(r"网页看板：http://127\.0\.0\.1:\d+/web/open/\S+$", board)
    (summary,) = await site.console.say("alice", "/summary")
    assert re.search(r"网页看板：http://127\.0\.0\.1:\d+/web/open/\S+$", summary)
    url = re.search(r"(http://\S+)$", board).group(1)  # type: ignore[union-attr]
    async with site.client() as http:
        status, body, _ = await _get(http, url)
    assert status == 200 and "仓库漏水" in body


async def test_without_a_public_url_the_chat_board_has_no_link(make_site: Any) -> None:
    site: Site = await make_site(**{"server.public_url": ""})
    await site.console.say("alice", "/risk 仓库漏水")
    (board,) = await site.console.say("alice", "/list")
    assert "网页看板" not in board and "/web/" not in board


async def test_link_keys_and_tokens_never_reach_the_logs(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await _two_groups(site)
    link = await site.link()
    async with site.client() as http:
        await _get(http, link)
        await _get(http, link[:-2] + "zz")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert WEB_SECRET not in logged and link.rsplit("/", 1)[1] not in logged


async def test_bad_page_addresses_get_not_found(site: Site) -> None:
    await _two_groups(site)
    async with site.client() as http:
        await _get(http, await site.link())
        for path in ("g/abc/board", "g/1/risk/abc", "g/1/risk/99", "g/1/nothing", "g/1/risk/99999999999"):
            status, body, _ = await _get(http, f"{site.base}/web/{path}")
            assert status == 404 and "没有这一页" in body, path
        status, body, _ = await _get(http, f"{site.base}/web/g/1/heatmap?l=9&i=0")
        assert status == 200 and "点击格子" in body
        status, _, response = await _get(http, f"{site.base}/web/")
        assert status == 200 and str(response.url).endswith("/web/g/1/board")
