"""DingTalk (钉钉): internal-app robot over HTTP callback or Stream mode, interactive cards,
custom robots for @all. See docs/platforms/dingtalk.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .settings import CustomRobot, Settings

if TYPE_CHECKING:
    from hubao.bot.adapter import AdapterContext

    from .adapter import DingTalkAdapter


def create(settings: Settings, context: AdapterContext) -> DingTalkAdapter:
    from .adapter import DingTalkAdapter

    return DingTalkAdapter(settings, context)


__all__ = ["CustomRobot", "Settings", "create"]
