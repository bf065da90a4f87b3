"""The shared options (--config, --log-level, --log-format) go before or after the subcommand."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from hubao.cli import _parser, parse_args

# What each subcommand needs besides the shared options.
_REQUIRED = {
    "db": ["upgrade"],
    "export": ["--group", "demo", "--from", "2026-11-01", "--to", "2026-11-30"],
    "web-link": ["--chat", "demo"],
}


def _subcommands() -> list[str]:
    parser = _parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(action.choices)


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_takes_the_shared_options_after_its_name(command: str) -> None:
    extra = _REQUIRED.get(command, [])
    shared = ["--config", "site.toml", "--log-level", "debug", "--log-format", "json"]
    after = parse_args(_parser(), [command, *extra, *shared])
    before = parse_args(_parser(), [*shared, command, *extra])
    for args in (after, before):
        assert (args.command, args.config, args.log_level, args.log_format) == (command, "site.toml", "debug", "json")


@pytest.mark.parametrize("command", _subcommands())
def test_without_shared_options_the_defaults_hold(command: str) -> None:
    args = parse_args(_parser(), [command, *_REQUIRED.get(command, [])])
    assert (args.config, args.log_level, args.log_format) == (None, "warning", "text")


def test_an_option_given_before_is_kept_and_one_after_wins() -> None:
    assert parse_args(_parser(), ["-c", "a.toml", "serve"]).config == "a.toml"
    assert parse_args(_parser(), ["-c", "a.toml", "serve", "-c", "b.toml"]).config == "b.toml"


def test_a_bad_log_level_after_the_subcommand_is_refused() -> None:
    with pytest.raises(SystemExit) as stop:
        parse_args(_parser(), ["serve", "--log-level", "loud"])
    assert stop.value.code == 2


def test_check_config_reads_the_file_named_after_the_subcommand(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text("[bot]\nlocale = 'en'\n[storage]\nurl = 'sqlite+aiosqlite:///site.db'\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "hubao.cli", "check-config", "--config", str(path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={"PATH": "", "HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "storage: sqlite+aiosqlite:///site.db" in result.stdout
