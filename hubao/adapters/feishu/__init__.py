"""Feishu (飞书) / Lark app bot: HTTP event subscription or long connection, im/v1 sending.

Importing this package is cheap; ``lark_oapi`` (seconds to import) is only loaded, off the
event loop, when the long connection starts.
"""

from __future__ import annotations

from hubao.adapters.feishu.settings import Settings
from hubao.bot.adapter import Adapter, AdapterContext

__all__ = ["Settings", "create"]


def create(settings: Settings, context: AdapterContext) -> Adapter:
    from hubao.adapters.feishu.adapter import FeishuAdapter

    return FeishuAdapter(settings, context)
