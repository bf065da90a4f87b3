"""One message catalogue for everything users read; zh-CN by default, English on request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubao.bot.catalog import MESSAGES

LOCALES = ("zh", "en")


class Catalog:
    """Looks up ``key`` in the chosen locale and formats it with ``str.format`` fields."""

    def __init__(self, locale: str = "zh", messages: Mapping[str, Mapping[str, str]] = MESSAGES) -> None:
        if locale not in LOCALES:
            raise ValueError(f"unknown locale {locale!r}")
        self.locale = locale
        self._messages = messages

    def __call__(self, key: str, /, **fields: Any) -> str:
        entry = self._messages[key]
        template = entry.get(self.locale) or entry["zh"]
        return template.format(**fields) if fields else template

    def has(self, key: str) -> bool:
        return key in self._messages
