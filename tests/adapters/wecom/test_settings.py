"""[wecom] settings: required keys per transport, URLs as keys, secrets from the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hubao.adapters.wecom import DEFAULT_API_BASE, DEFAULT_WS_URL, Settings
from hubao.bot.config import ConfigError, load_config


def test_defaults_point_at_the_real_wecom() -> None:
    s = Settings()
    assert (s.ws_url, s.api_base) == (DEFAULT_WS_URL, DEFAULT_API_BASE)
    assert s.ws_url == "wss://openws.work.weixin.qq.com" and s.api_base == "https://qyapi.weixin.qq.com"
    assert s.receive_id == "" and s.webhook_rate == 20


def test_missing_keys_follow_the_transport() -> None:
    assert Settings(transport="ws").missing_keys() == ["bot_id", "secret"]
    assert Settings(transport="http").missing_keys() == ["token", "encoding_aes_key"]
    assert Settings(transport="ws", bot_id="b", secret="s").missing_keys() == []


def test_unknown_keys_and_bad_urls_are_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(webhook="x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(ws_url="https://openws.work.weixin.qq.com")
    with pytest.raises(ValidationError):
        Settings(api_base="qyapi.weixin.qq.com")


def test_enabled_without_secrets_stops_start_up_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"wecom\.secret"):
        load_config(
            platform_models={"wecom": Settings}, environ={}, overrides={"wecom.enabled": True, "wecom.bot_id": "b"}
        )


def test_secrets_come_from_the_environment() -> None:
    config = load_config(
        platform_models={"wecom": Settings},
        environ={
            "HUBAO__WECOM__ENABLED": "true",
            "HUBAO__WECOM__TRANSPORT": "http",
            "HUBAO__WECOM__TOKEN": "tok",
            "HUBAO__WECOM__ENCODING_AES_KEY": "k" * 43,
        },
    )
    section = config.platforms["wecom"]
    assert section.token == "tok" and section.transport == "http"


@pytest.mark.parametrize("key", ["short", "k" * 42, "!" * 43])
def test_a_malformed_encoding_aes_key_names_the_key(key: str) -> None:
    with pytest.raises(ConfigError, match=r"wecom\.encoding_aes_key"):
        load_config(platform_models={"wecom": Settings}, environ={}, overrides={"wecom.encoding_aes_key": key})


def test_the_setup_guide_example_is_a_valid_config() -> None:
    import tomllib
    from pathlib import Path

    guide = Path(__file__).parents[3] / "docs" / "platforms" / "wecom.md"
    blocks = [b.split("```", 1)[0] for b in guide.read_text(encoding="utf-8").split("```toml\n")[1:]]
    example = next(b for b in blocks if b.startswith("[wecom]\n"))
    data = tomllib.loads(example)
    config = load_config(
        platform_models={"wecom": Settings},
        environ={"HUBAO__WECOM__SECRET": "s"},
        overrides={f"wecom.{k}": v for k, v in data["wecom"].items()},
    )
    section = config.platforms["wecom"]
    assert section.transport == "ws" and section.missing_keys() == []
    assert section.webhook_keys == {"wrkSFfCgAAxxxxxxxxxxxx": "693axxx6-7aoc-4bc4-97a0-0ec2sifa5aaa"}
