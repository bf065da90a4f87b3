"""``hubao init`` writes a config to start from, accepted by ``hubao check-config`` once filled in."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hubao.app import platform_settings_models
from hubao.cli import PLATFORM_TRANSPORTS

REPO = Path(__file__).resolve().parents[1]  # the code under test, whatever is installed
COMBINATIONS = [(p, t) for p, transports in PLATFORM_TRANSPORTS.items() for t in transports]
# Plausible values for what a user copies from the platform's console.
SAMPLE = {
    "encoding_aes_key": base64.b64encode(bytes(range(32))).decode()[:43],
    "app_id": "cli_a1b2c3d4e5f6a7b8",
}


def _hubao(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubao.cli", *args], capture_output=True, text=True, timeout=120, cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "PYTHONPATH": str(REPO), **(env or {})},
    )  # fmt: skip


def _exports(stdout: str) -> list[str]:
    line = next((line for line in stdout.splitlines() if re.match(r"\s*\d+\. export ", line)), "")
    return re.findall(r"(HUBAO__[A-Z_]+)=", line)


@pytest.mark.parametrize(("platform", "transport"), COMBINATIONS)
def test_init_writes_what_the_platform_needs_and_check_config_accepts_it(
    tmp_path: Path, platform: str, transport: str
) -> None:
    result = _hubao(tmp_path, "init", "--platform", platform, "--transport", transport)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "hubao.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    section = data[platform]
    assert section["enabled"] is True and section["transport"] == transport
    exports = _exports(result.stdout)
    secret_keys = {name.split("__")[2].lower() for name in exports}
    assert all(name.startswith(f"HUBAO__{platform.upper()}__") for name in exports)
    assert not secret_keys & set(section), "secrets are environment variables, not file keys"
    # Exactly what this transport requires, nothing it does not.
    required = set(platform_settings_models()[platform](enabled=True, transport=transport).missing_keys())
    file_keys = set(section) - {"enabled", "transport"}
    assert required <= file_keys | secret_keys
    assert all(section[key] == "" for key in file_keys)
    assert ("public_url" in data["server"]) == (transport == "http")
    # Fresh keys for the links the bot signs.
    assert len(data["export"]["secret"]) >= 40
    steps = result.stdout
    assert f"docs/platforms/{platform}.md" in steps and "hubao doctor --config hubao.toml" in steps

    # As written, check-config names the first thing left to fill in ...
    unfilled = _hubao(tmp_path, "check-config", "--config", "hubao.toml")
    assert unfilled.returncode == 2 and f"missing required config key '{platform}." in unfilled.stderr
    # ... and once the file keys are filled in and the printed variables exported, accepts it.
    text = path.read_text(encoding="utf-8")
    for key in file_keys:
        text = text.replace(f'\n{key} = ""', f'\n{key} = "{SAMPLE.get(key, "x-" + key)}"')
    path.write_text(text, encoding="utf-8")
    env = {name: SAMPLE.get(name.split("__")[2].lower(), "s3cret") for name in exports}
    accepted = _hubao(tmp_path, "check-config", "--config", "hubao.toml", env=env)
    assert accepted.returncode == 0, accepted.stderr
    assert f"platforms enabled: console, {platform}" in accepted.stdout


def test_init_without_a_platform_is_a_config_for_the_console(tmp_path: Path) -> None:
    result = _hubao(tmp_path, "init")
    assert result.returncode == 0, result.stderr
    data = tomllib.loads((tmp_path / "hubao.toml").read_text(encoding="utf-8"))
    assert not set(data) & set(PLATFORM_TRANSPORTS)
    assert "hubao console --config hubao.toml" in result.stdout
    accepted = _hubao(tmp_path, "check-config", "--config", "hubao.toml")
    assert accepted.returncode == 0, accepted.stderr


def test_init_never_overwrites_a_file_and_each_file_gets_its_own_keys(tmp_path: Path) -> None:
    assert _hubao(tmp_path, "init", "--config", "a.toml").returncode == 0
    first = (tmp_path / "a.toml").read_text(encoding="utf-8")
    again = _hubao(tmp_path, "init", "--platform", "feishu", "--config", "a.toml")
    assert again.returncode == 1 and "a.toml exists; not overwriting it" in again.stderr
    assert (tmp_path / "a.toml").read_text(encoding="utf-8") == first
    assert _hubao(tmp_path, "init", "--config", "b.toml").returncode == 0
    second = tomllib.loads((tmp_path / "b.toml").read_text(encoding="utf-8"))
    assert tomllib.loads(first)["export"]["secret"] != second["export"]["secret"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--platform", "wecom", "--transport", "stream"], "wecom transports are ws|http, not 'stream'"),
        (["--transport", "http"], "--transport needs --platform"),
    ],
)
def test_init_refuses_a_transport_the_platform_does_not_have(tmp_path: Path, args: list[str], message: str) -> None:
    result = _hubao(tmp_path, "init", *args)
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "hubao.toml").exists()
