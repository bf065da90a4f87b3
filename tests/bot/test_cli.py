"""The installed ``hubao`` command, run as a user would."""

from __future__ import annotations

import subprocess
import sys


def _hubao(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubao.bot.cli", *args],
        input=stdin, capture_output=True, text=True, timeout=120, env={"PATH": "", "HOME": "/tmp"},
    )


def test_help_lists_the_subcommands() -> None:
    result = _hubao("--help")
    assert result.returncode == 0
    for word in ("serve", "console", "doctor", "outbox", "check-config"):
        assert word in result.stdout


def test_console_session_from_standard_input() -> None:
    script = "\n".join([
        "alice: /risk 库存低于安全线 @bob",
        "bob: /ack #1",
        "carol: /resolve #1",
        ":advance 61m",
        ":teleport",
        "root: /resolve #1 管理员关闭",
        "alice: /list",
    ]) + "\n"
    result = _hubao("console", "--admin", "root", stdin=script)
    assert result.returncode == 0, result.stderr
    blocks = [line for line in result.stdout.splitlines() if line.startswith("bot:")]
    assert blocks == [
        "bot: @bob 已登记风险提醒。",
        "bot: #1 已收到，开始处理。",
        "bot: 无权执行：此命令仅限负责人、提醒人、组长、管理员。",
        "bot: #1 已解决。",
        "bot: 没有未解决的风险。👍",
    ]
    assert "console: unknown directive :teleport" in result.stdout


def test_console_in_english() -> None:
    result = _hubao("console", "--locale", "en", stdin="ann: /ack\n")
    assert result.stdout.strip() == "bot: Wrong arguments. Usage: /ack <#n>"


def test_a_bad_config_stops_with_the_key_named(tmp_path: object) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "bad.toml"
    path.write_text("[bot]\nlocal = 'en'\n", encoding="utf-8")
    result = _hubao("--config", str(path), "check-config")
    assert result.returncode == 2
    assert "unknown config key 'bot.local'" in result.stderr
