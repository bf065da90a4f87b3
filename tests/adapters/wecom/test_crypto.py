"""The WeCom vectors of the shared vector file, against shipped code and the stand-in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubao.adapters.wecom.crypto import CryptoError, WeComCrypto, signature
from tests.adapters.wecom.standin import wx_decrypt, wx_encrypt, wx_signature

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "vectors" / "vectors.json"
LOCAL_COPY = Path(__file__).with_name("vectors.json")  # the WeCom subset of SHARED, verbatim


def _vectors(source: Path) -> dict[str, dict[str, Any]]:
    data = json.loads(source.read_text(encoding="utf-8"))
    return {v["id"]: v for v in data["vectors"] if v["platform"] == "wecom"}


V = _vectors(LOCAL_COPY)


@pytest.mark.skipif(not SHARED.exists(), reason="shared vector file not present")
def test_local_copy_matches_the_shared_vectors() -> None:
    assert _vectors(SHARED) == V


def test_the_wecom_vectors_are_all_there() -> None:
    assert set(V) == {
        "wecom.wechatpy_tests.check_signature",
        "wecom.wechatpy_tests.decrypt_message",
        "wecom.wechatpy_tests.encrypt_message",
        "wecom.aibot.json_callback.self_generated",
    }


def test_url_verification_vector() -> None:
    v = V["wecom.wechatpy_tests.check_signature"]
    i, e = v["inputs"], v["expected"]
    crypto = WeComCrypto(i["token"], i["encoding_aes_key"], i["receive_id"])
    assert signature(i["token"], i["timestamp"], i["nonce"], i["echostr"]) == e["msg_signature"]
    assert crypto.verify_and_decrypt(e["msg_signature"], i["timestamp"], i["nonce"], i["echostr"]) == (
        "5927782489442352469"
    )


def test_decrypt_vector() -> None:
    v = V["wecom.wechatpy_tests.decrypt_message"]
    i, e = v["inputs"], v["expected"]
    crypto = WeComCrypto(i["token"], i["encoding_aes_key"], i["receive_id"])
    assert (
        crypto.verify_and_decrypt(i["msg_signature"], i["timestamp"], i["nonce"], i["encrypt"]) == (e["plaintext_xml"])
    )


def test_encrypt_vector_is_byte_identical() -> None:
    v = V["wecom.wechatpy_tests.encrypt_message"]
    i, e = v["inputs"], v["expected"]
    crypto = WeComCrypto(i["token"], i["encoding_aes_key"], i["receive_id"])
    encrypt = crypto.encrypt(i["plaintext"], random_prefix=i["random16"])
    assert encrypt == e["encrypt"]
    assert signature(i["token"], i["timestamp"], i["nonce"], encrypt) == e["msg_signature"]


def test_ai_bot_json_vector_with_empty_receive_id() -> None:
    v = V["wecom.aibot.json_callback.self_generated"]
    i, e = v["inputs"], v["expected"]
    crypto = WeComCrypto(i["token"], i["encoding_aes_key"], i["receive_id"])
    assert crypto.encrypt(i["plaintext"], random_prefix=i["random16"]) == e["encrypt"]
    assert crypto.verify_and_decrypt(e["msg_signature"], i["timestamp"], i["nonce"], e["encrypt"]) == i["plaintext"]


def test_stand_in_crypto_agrees_with_the_vectors() -> None:
    """The stand-in is an independent implementation; it must reproduce the vectors too."""
    v = V["wecom.aibot.json_callback.self_generated"]
    i, e = v["inputs"], v["expected"]
    assert wx_encrypt(i["encoding_aes_key"], i["plaintext"], "", i["random16"].encode()) == e["encrypt"]
    assert wx_signature(i["token"], i["timestamp"], i["nonce"], e["encrypt"]) == e["msg_signature"]
    w = V["wecom.wechatpy_tests.encrypt_message"]["inputs"]
    assert wx_decrypt(w["encoding_aes_key"], V["wecom.wechatpy_tests.encrypt_message"]["expected"]["encrypt"]) == (
        w["plaintext"],
        w["receive_id"],
    )


def test_wrong_receive_id_is_refused() -> None:
    v = V["wecom.wechatpy_tests.decrypt_message"]["inputs"]
    crypto = WeComCrypto(v["token"], v["encoding_aes_key"], "")  # AI bot expects "", this says the corp id
    with pytest.raises(CryptoError, match="receive-id"):
        crypto.verify_and_decrypt(v["msg_signature"], v["timestamp"], v["nonce"], v["encrypt"])


def test_wrong_signature_is_refused_before_decrypting() -> None:
    v = V["wecom.aibot.json_callback.self_generated"]
    i, e = v["inputs"], v["expected"]
    crypto = WeComCrypto(i["token"], i["encoding_aes_key"], "")
    with pytest.raises(CryptoError, match="signature"):
        crypto.verify_and_decrypt("0" * 40, i["timestamp"], i["nonce"], e["encrypt"])


@pytest.mark.parametrize("garbage", ["not base64!!", "QUJD", "", "A" * 44])
def test_garbage_ciphertext_is_a_crypto_error(garbage: str) -> None:
    i = V["wecom.aibot.json_callback.self_generated"]["inputs"]
    crypto = WeComCrypto(i["token"], i["encoding_aes_key"], "")
    with pytest.raises(CryptoError):
        crypto.decrypt(garbage)


def test_passive_reply_envelope_opens_with_the_stand_in() -> None:
    i = V["wecom.aibot.json_callback.self_generated"]["inputs"]
    crypto = WeComCrypto(i["token"], i["encoding_aes_key"], "")
    envelope = crypto.reply_envelope({"msgtype": "stream", "stream": {"content": "好"}}, timestamp="1700000000")
    assert set(envelope) == {"encrypt", "msgsignature", "timestamp", "nonce"}
    assert envelope["msgsignature"] == wx_signature(i["token"], "1700000000", envelope["nonce"], envelope["encrypt"])
    plain, receive_id = wx_decrypt(i["encoding_aes_key"], envelope["encrypt"])
    assert receive_id == "" and json.loads(plain)["stream"]["content"] == "好"


@pytest.mark.parametrize("key", ["short", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1a", "!" * 43])
def test_bad_encoding_aes_key_is_refused_up_front(key: str) -> None:
    with pytest.raises(ValueError):
        WeComCrypto("token", key, "")
