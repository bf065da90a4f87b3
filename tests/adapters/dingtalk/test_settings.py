"""The [dingtalk] section: required keys per transport, secrets from the environment, URLs."""

from __future__ import annotations

import pytest

from hubao.adapters.dingtalk import Settings
from hubao.bot.config import ConfigError, load_config


def test_enabled_without_credentials_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"dingtalk\.client_id"):
        load_config(platform_models={"dingtalk": Settings}, environ={}, overrides={"dingtalk.enabled": True})


def test_secrets_from_environment_and_unknown_keys_refused() -> None:
    env = {"HUBAO__DINGTALK__CLIENT_SECRET": "s3", "HUBAO__DINGTALK__CLIENT_ID": "ding1"}
    config = load_config(platform_models={"dingtalk": Settings}, environ=env, overrides={"dingtalk.enabled": True})
    section = config.platforms["dingtalk"]
    assert section.client_secret == "s3" and section.effective_robot_code == "ding1"
    assert section.api_base == "https://api.dingtalk.com"
    assert section.gateway_url == "https://api.dingtalk.com/v1.0/gateway/connections/open"
    with pytest.raises(ConfigError, match=r"dingtalk\.apibase"):
        load_config(platform_models={"dingtalk": Settings}, environ={}, overrides={"dingtalk.apibase": "x"})


def test_http_cards_need_a_callback_token() -> None:
    settings = Settings(enabled=True, client_id="a", client_secret="b", transport="http", card_template_id="t")
    assert settings.missing_keys() == ["card_callback_token"]
    assert Settings(enabled=True, client_id="a", client_secret="b", card_template_id="t").missing_keys() == []


def test_custom_robot_per_group() -> None:
    settings = Settings(
        webhook_url="tok1",
        webhook_secret="SEC1",
        webhook_chat_id="cidA",
        webhooks={"cidB": {"url": "https://oapi.dingtalk.com/robot/send?access_token=tok2", "secret": "SEC2"}},
    )
    a, b = settings.custom_robot_for("cidA"), settings.custom_robot_for("cidB")
    assert a is not None and a.url == "https://oapi.dingtalk.com/robot/send?access_token=tok1"
    assert b is not None and b.secret == "SEC2"
    assert settings.custom_robot_for("cidC") is None
