from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from hubao.app import read_config
from hubao.bot.config import ConfigError, Section, load_config

ROOT = Path(__file__).resolve().parents[2]


class DemoPlatform(Section):
    enabled: bool = False
    app_secret: str = ""
    api_base: str = "https://open.example.com"

    def missing_keys(self) -> list[str]:
        return [] if self.app_secret else ["app_secret"]


def test_example_config_documents_a_valid_config() -> None:
    config = read_config(ROOT / "config.example.toml", environ={})
    assert config.bot.locale == "zh"
    assert config.escalation.respond == timedelta(hours=1)


def test_every_key_of_the_example_is_known_and_every_kernel_key_is_in_the_example() -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    config = read_config(ROOT / "config.example.toml", environ={})
    for section_name in ("bot", "storage", "server", "escalation", "delivery", "digest", "assessment", "web"):
        section = getattr(config, section_name)
        for key in type(section).model_fields:
            spellings = (f"\n{key} =", f"\n# {key} =", f"[{section_name}.{key}.")
            assert any(s in text for s in spellings), f"{section_name}.{key} is not documented"


def test_environment_overrides_secrets_and_values(tmp_path: Path) -> None:
    path = tmp_path / "hubao.toml"
    path.write_text('[demo]\nenabled = true\napp_secret = "from-file"\n[bot]\nlocale = "zh"\n', encoding="utf-8")
    env = {"HUBAO__DEMO__APP_SECRET": "from-env", "HUBAO__BOT__LOCALE": "en", "HUBAO__SERVER__PORT": "9000"}
    config = load_config(path, platform_models={"demo": DemoPlatform}, environ=env)
    assert config.platforms["demo"].app_secret == "from-env"
    assert config.bot.locale == "en" and config.server.port == 9000


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("[bot]\nlocal = 'en'\n", {}, "unknown config key 'bot.local'"),
        ("[nonsense]\nx = 1\n", {}, "unknown config key 'nonsense'"),
        ("[demo]\nenabled = true\nwhat = 1\n", {}, "unknown config key 'demo.what'"),
        ("[demo]\nenabled = true\n", {}, "missing required config key 'demo.app_secret'"),
        ("[escalation]\nrespond = 'soon'\n", {}, "bad value for config key 'escalation.respond'"),
        ("[bot]\ntimezone = 'Mars/Olympus'\n", {}, "bad value for config key 'bot.timezone'"),
        ("[bot]\nadmins = ['zhangsan']\n", {}, "bad value for config key 'bot.admins'"),
        ("", {"HUBAO__SERVER__PORTT": "1"}, "unknown config key 'server.portt'"),
        ("[bot\n", {}, "not valid TOML"),
    ],
)
def test_bad_config_stops_start_up_naming_the_key(tmp_path: Path, toml: str, env: dict[str, str], message: str) -> None:
    path = tmp_path / "hubao.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, platform_models={"demo": DemoPlatform}, environ=env)
    assert message in str(caught.value)


def test_a_disabled_platform_needs_no_secret() -> None:
    config = load_config(None, platform_models={"demo": DemoPlatform}, environ={})
    assert config.platforms["demo"].enabled is False


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.toml", environ={})


def test_every_platform_key_is_documented_in_the_example() -> None:
    from hubao.app import platform_settings_models

    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    for name, model in platform_settings_models().items():
        assert f"\n[{name}]\n" in text, f"[{name}] is not documented"
        section = text.split(f"\n[{name}]\n", 1)[1]  # this platform's keys follow its header
        for key in model.model_fields:
            assert f"\n{key} =" in section or f"[{name}.{key}]" in text, f"{name}.{key} is not documented"

