"""Every page asset ships in the package: templates and static files are package data."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_template_and_static_file_is_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]
    patterns = globs["hubao"]
    assets = [p for folder in ("templates", "static") for p in (ROOT / "hubao" / "web" / folder).iterdir()]
    assert len(assets) >= 10
    for path in assets:
        relative = path.relative_to(ROOT / "hubao").as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative


def test_pages_load_nothing_from_outside_the_package() -> None:
    for path in (ROOT / "hubao" / "web").rglob("*"):
        if path.suffix in (".html", ".css", ".js"):
            text = path.read_text(encoding="utf-8")
            assert "http://" not in text and "https://" not in text and "//cdn" not in text, path
            assert " style=" not in text and "<style" not in text and "onclick" not in text, path  # CSP: no inline
            if path.suffix == ".html":
                assert "<script>" not in text and "<script src" not in text.replace('<script src="{{ root }}', ""), path
