"""``hubao web-link``: the same links for a terminal, and the organisation-wide one for admins."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tests.web.conftest import WEB_SECRET, Site

ROOT = Path(__file__).resolve().parents[2]


async def _hubao(site: Site, db_url: str, *args: str, secret: str = WEB_SECRET) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUBAO__STORAGE__URL": db_url, "HUBAO__WEB__SECRET": secret,
           "HUBAO__SERVER__PUBLIC_URL": site.base, "HUBAO__STORAGE__AUTO_MIGRATE": "false"}  # fmt: skip
    env.pop("HUBAO_CONFIG", None)
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "hubao", "web-link", *args], capture_output=True, text=True,
        timeout=120, env=env, cwd=ROOT,
    )  # fmt: skip


async def test_web_link_prints_a_link_to_a_groups_board_and_one_to_every_group(site: Site, db_url: str) -> None:
    await site.console.say("alice", "/risk 仓库漏水")
    await site.console.app.register_group("console", "other", "其他组")
    await site.console.say("dave", "/risk 其他组的风险", chat="other")
    done = await _hubao(site, db_url, "--chat", "demo")
    assert done.returncode == 0, done.stderr
    async with site.client() as http, http.get(done.stdout.strip()) as response:
        body = await response.text()
        assert response.status == 200 and "仓库漏水" in body and "其他组的风险" not in body
    done = await _hubao(site, db_url, "--org")
    assert done.returncode == 0, done.stderr
    async with site.client() as http, http.get(done.stdout.strip()) as response:
        body = await response.text()
        assert response.status == 200 and str(response.url).endswith("/web/org")
        assert "互保演示组" in body and "其他组" in body


async def test_web_link_revoke_and_bad_input(site: Site, db_url: str) -> None:
    await site.console.say("alice", "/risk 仓库漏水")
    link = (await _hubao(site, db_url, "--chat", "console:demo")).stdout.strip()
    done = await _hubao(site, db_url, "--chat", "demo", "--revoke")
    assert done.returncode == 0 and "revoked" in done.stdout
    async with site.client() as http, http.get(link) as response:
        assert response.status == 403
    done = await _hubao(site, db_url, "--chat", "no-such-chat")
    assert done.returncode == 2 and "no group 'no-such-chat'" in done.stderr
    done = await _hubao(site, db_url, "--chat", "demo", secret="")
    assert done.returncode == 2 and "[web] secret" in done.stderr
    done = await _hubao(site, db_url)
    assert done.returncode == 2 and "one of the arguments --chat --org is required" in done.stderr
    assert WEB_SECRET not in done.stderr


def test_the_cli_help_names_web_link() -> None:
    done = subprocess.run([sys.executable, "-m", "hubao", "web-link", "--help"], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0 and "--org" in done.stdout and "--chat" in done.stdout
