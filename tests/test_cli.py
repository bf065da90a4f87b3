"""The installed ``hubao`` command, run as a user would."""

from __future__ import annotations

import subprocess
import sys


def _hubao(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubao.cli", *args],
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


def test_the_deploy_files_start_the_server_with_options_the_cli_accepts() -> None:
    import json
    import pathlib
    import shlex

    from hubao.cli import _parser

    root = pathlib.Path(__file__).resolve().parents[1]
    dockerfile = (root / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    cmd = json.loads(next(line for line in dockerfile.splitlines() if line.startswith("CMD "))[4:])
    unit = (root / "deploy" / "hubao.service").read_text(encoding="utf-8")
    exec_start = shlex.split(next(line for line in unit.splitlines() if line.startswith("ExecStart="))[10:])
    for argv in (cmd, exec_start):
        assert argv[argv.index("-m") + 1] == "hubao"
        args = _parser().parse_args(argv[argv.index("-m") + 2 :])
        assert args.command == "serve" and args.log_format == "json"


async def test_outbox_lists_dead_messages(tmp_path: object) -> None:
    import pathlib

    from hubao.app import App
    from hubao.bot.adapter import Adapter, DeliveryError
    from hubao.bot.clock import ManualClock
    from hubao.bot.events import InboundEvent, User
    from tests.harness import config_for

    class Refusing(Adapter):
        platform = "wecom"

        async def send(self, message: object) -> None:
            raise DeliveryError("errcode 93000 invalid webhook url", retryable=False)

    folder = pathlib.Path(str(tmp_path))
    url = f"sqlite+aiosqlite:///{folder / 'hubao.db'}"
    app = App(config_for(url, **{"storage.auto_migrate": True}), clock=ManualClock(), adapters={"wecom": Refusing()})
    await app.start()
    await app.register_group("wecom", "chat-1", "g")
    await app.dispatch(InboundEvent("wecom", "chat-1", User("wecom:zs", "zs"), "/list", "m-1", app.clock.now()))
    await app.deliver()
    await app.close()
    config = folder / "hubao.toml"
    config.write_text(f'[storage]\nurl = "{url}"\n', encoding="utf-8")
    result = _hubao("--config", str(config), "outbox")
    assert result.returncode == 0, result.stderr
    (row,) = [line for line in result.stdout.splitlines() if "\tdead\t" in line]
    assert "wecom:chat-1" in row and "errcode 93000" in row and "reply:wecom:m-1:0" in row
    assert result.stdout.strip().endswith("1 message(s)")
    pending = _hubao("--config", str(config), "outbox", "--state", "pending")
    assert pending.stdout.strip().endswith("0 message(s)")
