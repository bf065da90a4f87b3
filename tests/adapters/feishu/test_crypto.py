"""The Feishu crypto against the shared vectors (official decrypt sample, SDK-accepted signature)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubao.adapters.feishu import crypto

from .standin import encrypt, sign

# The Feishu entries of the shared, verified vector file, copied verbatim.
VECTORS = Path(__file__).with_name("vectors.json")


# The project's copy of the shared vector file (all platforms).
PROJECT_VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "vectors.json"


def test_local_copy_equals_the_feishu_entries_of_the_project_vectors() -> None:
    local = json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]
    shared = json.loads(PROJECT_VECTORS.read_text(encoding="utf-8"))["vectors"]
    assert local == [v for v in shared if v["platform"] == "feishu"]
    assert {v["platform"] for v in local} == {"feishu"} and local


def vector(vector_id: str) -> dict[str, Any]:
    data = json.loads(VECTORS.read_text(encoding="utf-8"))
    return next(v for v in data["vectors"] if v["id"] == vector_id)


def test_official_decrypt_vector() -> None:
    v = vector("feishu.event.encrypt.official")
    assert crypto.decrypt(v["inputs"]["encrypt"], v["inputs"]["encrypt_key"]) == v["expected"]["plaintext"].encode()


def test_signature_vector() -> None:
    v = vector("feishu.event.signature.self_generated")
    i = v["inputs"]
    expected = v["expected"]["X-Lark-Signature"]
    body = i["raw_body"].encode()
    assert crypto.signature(i["timestamp"], i["nonce"], i["encrypt_key"], body) == expected
    assert crypto.signature_ok(i["timestamp"], i["nonce"], i["encrypt_key"], body, expected)
    assert crypto.signature_ok(i["timestamp"], i["nonce"], i["encrypt_key"], body, expected.upper())
    assert not crypto.signature_ok(i["timestamp"], i["nonce"], i["encrypt_key"], body + b" ", expected)
    assert not crypto.signature_ok(i["timestamp"], "other", i["encrypt_key"], body, expected)
    # the stand-in's independent signer agrees with the vector too
    assert sign(i["timestamp"], i["nonce"], i["encrypt_key"], body) == expected


def test_standin_encryption_round_trips() -> None:
    text = "互保 /risk 库存低".encode()
    assert crypto.decrypt(encrypt(text, "k"), "k") == text


@pytest.mark.parametrize(
    "encrypted",
    ["not base64!!", "", "QUJD", encrypt(b"hello", "another key", iv=bytes(16))],
    ids=["not-base64", "empty", "too-short", "wrong-key"],
)
def test_undecryptable(encrypted: str) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt(encrypted, "test key")
