"""The verified vectors are kept verbatim in tests/vectors/; this keeps the copy honest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

HERE = Path(__file__).with_name("vectors.json")
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "vectors.json"


@pytest.mark.skipif(not SHARED.exists(), reason="the shared vector file is not beside this checkout")
def test_copy_matches_the_shared_vectors() -> None:
    assert json.loads(HERE.read_text(encoding="utf-8")) == json.loads(SHARED.read_text(encoding="utf-8"))


def test_every_platform_has_vectors() -> None:
    platforms = {v["platform"] for v in json.loads(HERE.read_text(encoding="utf-8"))["vectors"]}
    assert {"wecom", "dingtalk", "feishu"} <= platforms
