"""The house plan, checked on the source: the kernel and the layers below never import upward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hubao"
COMPOSITION_ROOT = {"hubao.app", "hubao.cli", "hubao.console", "hubao.__main__"}
# What each folder must never import (besides the composition root, which nothing below imports).
FORBIDDEN = {
    "bot": ("hubao.handlers", "hubao.adapters", "hubao.storage", "hubao.scheduler"),
    "storage": ("hubao.handlers", "hubao.adapters", "hubao.scheduler"),
    "scheduler": ("hubao.handlers", "hubao.adapters"),
    "adapters": ("hubao.handlers", "hubao.storage", "hubao.scheduler"),
    "handlers": ("hubao.adapters",),
    "web": ("hubao.adapters",),  # pages read through storage, beside the handlers
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _modules(folder: str) -> list[Path]:
    return sorted(p for p in (PACKAGE / folder).rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_no_folder_imports_upward(folder: str) -> None:
    wrong = []
    for path in _modules(folder):
        for name in _imports(path):
            if name in COMPOSITION_ROOT or name.startswith(FORBIDDEN[folder]):
                wrong.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_handlers_do_not_import_each_other_in_a_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for path in _modules("handlers"):
        module = f"hubao.handlers.{path.stem}"
        graph[module] = {n for n in _imports(path) if n.startswith("hubao.handlers.") and n.count(".") == 2}

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    return [*trail, nxt]
                if nxt not in trail:
                    stack.append((nxt, [*trail, nxt]))
        return None

    cycles = [c for m in graph if (c := cycle_from(m))]
    assert not cycles, cycles[0]


def test_the_composition_root_sits_above_the_folders() -> None:
    for name in ("app.py", "cli.py", "console.py"):
        assert (PACKAGE / name).exists()
        assert not (PACKAGE / "bot" / name).exists()
