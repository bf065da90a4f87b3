"""Secrets stay secret: not in logs, compared in constant time, and never missing at start-up."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

from hubao.bot.config import ConfigError, Section, load_config
from hubao.bot.redact import MASK, collect_secrets
from hubao.cli import main
from tests.harness import config_for

ROOT = Path(__file__).resolve().parents[2]
FEISHU_SECRET = "feishu-app-secret-0123456789"
EXPORT_KEY = "export-signing-key-abcdef"
WEBHOOK_KEY = "wecom-robot-key-5555-6666"


def test_every_configured_secret_is_collected(db_url: str) -> None:
    config = config_for(
        db_url,
        **{
            "feishu.app_secret": FEISHU_SECRET, "feishu.verification_token": "verify-token-42424242",
            "feishu.app_id": "cli_public_app_id", "export.secret": EXPORT_KEY,
            "wecom.webhook_keys": {"chat-1": WEBHOOK_KEY},
            "dingtalk.webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=ding-access-token-77",
            "dingtalk.webhook_chat_id": "cid-public-chat-id",
        },
    )  # fmt: skip
    secrets = collect_secrets(config)
    assert {FEISHU_SECRET, "verify-token-42424242", EXPORT_KEY, WEBHOOK_KEY, "ding-access-token-77"} <= secrets
    assert "cli_public_app_id" not in secrets and "cid-public-chat-id" not in secrets
    url = config.model_copy(update={"storage": config.storage.model_copy(
        update={"url": "postgresql://hubao:db-password-987@db.internal/hubao"})})  # fmt: skip
    assert "db-password-987" in collect_secrets(url)


async def test_configured_secrets_never_reach_the_logs(
    make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await make_app(**{"feishu.app_secret": FEISHU_SECRET, "export.secret": EXPORT_KEY})
    log = logging.getLogger("hubao.test")
    with caplog.at_level(logging.INFO):
        log.info("calling with secret %s and key %s", FEISHU_SECRET, EXPORT_KEY)
        log.warning(f"interpolated early: {FEISHU_SECRET}")
        try:
            raise RuntimeError(f"token endpoint said no to {FEISHU_SECRET}")
        except RuntimeError:
            log.exception("request failed")
    text = caplog.text
    assert FEISHU_SECRET not in text and EXPORT_KEY not in text
    assert text.count(MASK) >= 4
    assert "request failed" in text and "RuntimeError" in text


def test_signatures_and_tokens_are_compared_in_constant_time() -> None:
    """A grep-level guard: no ``==``/``!=`` between signature-like values anywhere in hubao/."""
    name = r"[\w.\[\]'\"()]*(?:signature|sig|sign|mac|digest|token_hash|token|secret)\b[\w.\[\]'\"()]*"
    # Comparing with a literal (None, "off", 0) is no secret comparison.
    risky = re.compile(rf"{name}\s*[!=]=\s*(?!None\b|[\"']|\d)\S|[^\s\"']\s*[!=]=\s*{name}", re.IGNORECASE)
    offenders = []
    for path in sorted((ROOT / "hubao").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if risky.search(code) and "compare_digest" not in code and "len(" not in code:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "use hmac.compare_digest:\n" + "\n".join(offenders)


class TinySettings(Section):
    enabled: bool = False
    secret: str = ""

    def missing_keys(self) -> list[str]:
        return [] if self.secret else ["secret"]


def test_an_enabled_platform_without_its_secret_stops_start_up() -> None:
    models = {"tiny": TinySettings}
    with pytest.raises(ConfigError, match=r"missing required config key 'tiny\.secret'"):
        load_config(None, platform_models=models, environ={"HUBAO__TINY__ENABLED": "true"})
    with pytest.raises(ConfigError, match=r"'tiny\.secret'"):  # an empty override is still missing
        load_config(None, platform_models=models, environ={"HUBAO__TINY__ENABLED": "true", "HUBAO__TINY__SECRET": ""})
    assert load_config(None, platform_models=models, environ={}).platforms["tiny"].enabled is False


@pytest.mark.parametrize(
    ("section", "given", "missing"),
    [
        ("feishu", {"app_id": "cli_x", "app_secret": "s" * 16, "transport": "http"}, "feishu.verification_token"),
        ("wecom", {"transport": "http", "token": "t" * 16}, "wecom.encoding_aes_key"),
        ("wecom", {"transport": "ws", "bot_id": "b"}, "wecom.secret"),
        ("dingtalk", {"client_id": "ding"}, "dingtalk.client_secret"),
    ],
)
def test_real_adapters_refuse_to_start_without_their_verification_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str, given: dict[str, str], missing: str
) -> None:
    lines = [f"[{section}]", "enabled = true", *(f'{k} = "{v}"' for k, v in given.items())]
    config = tmp_path / "hubao.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["--config", str(config), "serve"]) == 2  # before any socket is opened
    err = capsys.readouterr().err
    assert f"'{missing}'" in err
    for value in given.values():
        if len(value) >= 8:
            assert value not in err
