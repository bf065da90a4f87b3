"""A real ``hubao serve`` says what it runs at the default log level, and nothing from libraries."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path

from hubao import __version__
from hubao.bot.clock import ManualClock
from hubao.cli import safe_url
from tests.adapters.feishu.standin import APP_ID, APP_SECRET, BOT_OPEN_ID, FeishuStandIn

START_TIMEOUT = 60.0
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _serve_until(config: Path, wanted: str, *extra: str) -> tuple[list[str], int]:
    """Start ``hubao serve``, read its log until a line contains ``wanted``, stop it with SIGTERM."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hubao.cli", "serve", "--config", str(config), *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=config.parent,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(config.parent), "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(START_TIMEOUT):
            while wanted not in "".join(lines[-1:]):
                line = await process.stdout.readline()
                if not line:
                    break
                lines.append(line.decode().rstrip("\n"))
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), timeout=START_TIMEOUT)
        lines += rest.decode().splitlines()
    return lines, process.returncode if process.returncode is not None else -1


def _messages(lines: list[str]) -> list[str]:
    """``time LEVEL logger [request] message`` → ``LEVEL logger message``."""
    out = []
    for line in lines:
        parts = line.split(" ", 5)
        out.append(f"{parts[2]} {parts[3]} {parts[5]}" if len(parts) == 6 else line)
    return out


async def test_serve_names_version_address_storage_and_when_the_long_connection_is_up(tmp_path: Path) -> None:
    standin = FeishuStandIn(ManualClock())
    await standin.start()
    port = _free_port()
    config = tmp_path / "hubao.toml"
    config.write_text(
        f"""
[storage]
url = "sqlite+aiosqlite:///{tmp_path / 'hubao.db'}"
[server]
host = "127.0.0.1"
port = {port}
[feishu]
enabled = true
transport = "long_connection"
app_id = "{APP_ID}"
app_secret = "{APP_SECRET}"
bot_open_id = "{BOT_OPEN_ID}"
resolve_names = false
api_base = "{standin.url}"
ws_endpoint_url = "{standin.url}/callback/ws/endpoint"
""",
        encoding="utf-8",
    )
    try:
        lines, code = await _serve_until(config, "feishu: long connection up")
    finally:
        await standin.close()
    messages = _messages(lines)
    assert messages[:5] == [
        f"INFO hubao.serve hubao {__version__} starting (config: {config})",
        f"INFO hubao.serve storage: sqlite+aiosqlite:///{tmp_path / 'hubao.db'}",
        "INFO hubao.serve feishu: enabled, transport long_connection (long connection)",
        f"INFO hubao.serve listening on http://127.0.0.1:{port}",
        "INFO hubao.serve feishu: long connection up",
    ]
    assert messages[-1] == "INFO hubao.serve stopped" and code == 0
    assert not [m for m in messages if " alembic" in m or " apscheduler" in m], messages


async def test_serve_without_a_platform_warns_and_names_hubao_doctor(tmp_path: Path) -> None:
    port = _free_port()
    config = tmp_path / "hubao.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite+aiosqlite:///{tmp_path / "hubao.db"}"\n[server]\nport = {port}\n', encoding="utf-8"
    )
    lines, _ = await _serve_until(config, "hubao.serve [-] listening on", "--log-level", "info")
    messages = _messages(lines)
    warning = next(m for m in messages if m.startswith("WARNING hubao.serve"))
    assert "no chat platform is enabled" in warning and "`hubao doctor`" in warning
    assert f"INFO hubao.serve listening on http://0.0.0.0:{port}" in messages
    # Even at info, the libraries' start-up chatter stays at debug.
    assert not [m for m in messages if " alembic" in m or " apscheduler" in m], messages


def test_storage_is_shown_without_its_password() -> None:
    assert safe_url("postgresql+asyncpg://hubao:hunter2@db:5432/hubao") == "postgresql+asyncpg://hubao:***@db:5432/hubao"
    assert safe_url("sqlite+aiosqlite:///hubao.db") == "sqlite+aiosqlite:///hubao.db"
    assert "hunter2" not in safe_url("not a url://user:hunter2@x")
