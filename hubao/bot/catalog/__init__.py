"""The one message catalogue, kept as one module per feature and merged here.

Each module in this package defines ``MESSAGES = {key: {"zh": …, "en": …}}``; a key
defined twice is an error at import time.
"""

from __future__ import annotations

import importlib
import pkgutil


def _merge() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        part: dict[str, dict[str, str]] = importlib.import_module(f"{__name__}.{info.name}").MESSAGES
        for key, entry in part.items():
            if key in merged:
                raise RuntimeError(f"message key {key!r} defined twice (again in catalog/{info.name}.py)")
            if "zh" not in entry or "en" not in entry:
                raise RuntimeError(f"message key {key!r} needs both zh and en")
            merged[key] = entry
    return merged


MESSAGES = _merge()
