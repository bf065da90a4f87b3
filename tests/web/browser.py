"""Chromium from the operating system's packages, driven by Playwright (no browser is downloaded)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

CHROMIUM = os.environ.get("HUBAO_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync",
]  # fmt: skip
PHONE = {"width": 390, "height": 844}

needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM} (.ci/run installs it with apt)"
)


@dataclass
class Tab:
    """A page and everything it complained about: console errors, failed requests, page errors."""

    page: object
    problems: list[str] = field(default_factory=list)


@asynccontextmanager
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        chromium = await driver.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


async def open_tab(chromium: object, *, phone: bool = False) -> Tab:
    context = await chromium.new_context(  # type: ignore[attr-defined]
        viewport=PHONE if phone else {"width": 1280, "height": 900}, locale="zh-CN", device_scale_factor=1,
        is_mobile=phone, has_touch=phone,
    )  # fmt: skip
    page = await context.new_page()
    tab = Tab(page)
    page.on("console", lambda msg: tab.problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error"
            else None)  # fmt: skip
    page.on("pageerror", lambda exc: tab.problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: _failed(tab, req))
    return tab


def _failed(tab: Tab, request: object) -> None:
    # Leaving a page cancels what it still loads (the favicon, a refresh): that is no failure.
    failure = getattr(request, "failure", None) or ""
    if "ERR_ABORTED" not in failure:
        tab.problems.append(f"request failed: {getattr(request, 'url', '')} {failure}")
