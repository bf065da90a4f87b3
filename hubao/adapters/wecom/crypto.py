"""WXBizMsgCrypt for the WeCom AI bot's HTTP callback (platforms.md §1.2).

Decryption and encryption are done by wechatpy's ``PrpCrypto`` (random(16) | len | msg |
receive-id, PKCS#7 to 32-byte blocks, AES-256-CBC, base64). wechatpy compares signatures
with ``!=`` and only emits XML envelopes, so signature checks (constant time) and the JSON
reply envelope of the AI bot are done here with wechatpy's signer.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import string
import struct
from typing import Any

from wechatpy.enterprise.crypto import PrpCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.utils import WeChatSigner

_ALPHABET = string.ascii_letters + string.digits


class CryptoError(Exception):
    """The request does not verify or decrypt; the message never contains secret material."""


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """``sha1(''.join(sorted([token, timestamp, nonce, encrypt])))`` as lowercase hex."""
    signer = WeChatSigner()
    signer.add_data(token, timestamp, nonce, encrypt)
    return str(signer.signature)


class _Prp(PrpCrypto):  # type: ignore[misc]
    """wechatpy's cipher with a cryptographically random (or fixed, for vectors) 16-byte prefix."""

    def __init__(self, key: bytes, random_prefix: str | None = None) -> None:
        super().__init__(key)
        self._prefix = random_prefix

    def get_random_string(self) -> str:
        if self._prefix is not None:
            return self._prefix
        return "".join(secrets.choice(_ALPHABET) for _ in range(16))


class WeComCrypto:
    """Verify, decrypt and encrypt WeCom callback payloads for one bot."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str = "") -> None:
        if not token:
            raise ValueError("token is empty")
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("encoding_aes_key is not base64") from exc
        if len(encoding_aes_key) != 43 or len(key) != 32:
            raise ValueError("encoding_aes_key must be 43 characters (32 bytes)")
        self._token = token
        self._key = key
        self._receive_id = receive_id
        self._prp = _Prp(key)  # stateless between calls (a fresh AES context each); built once

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        expected = signature(self._token, timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected.encode(), msg_signature.lower().encode()):
            raise CryptoError("bad signature")

    def decrypt(self, encrypt: str) -> str:
        """Decrypt one ``encrypt`` value; the trailing receive-id must match exactly."""
        try:
            raw = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError("ciphertext is not base64") from exc
        if not raw or len(raw) % 32:
            raise CryptoError("ciphertext length is not a multiple of the block size")
        try:
            return str(self._prp.decrypt(encrypt, self._receive_id))
        except InvalidCorpIdException as exc:
            raise CryptoError("wrong receive-id") from exc
        except (UnicodeDecodeError, struct.error, ValueError, IndexError) as exc:
            raise CryptoError("ciphertext does not decrypt") from exc

    def verify_and_decrypt(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> str:
        self.verify(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)

    def encrypt(self, plaintext: str, *, random_prefix: str | None = None) -> str:
        prp = self._prp if random_prefix is None else _Prp(self._key, random_prefix)
        return str(prp.encrypt(plaintext, self._receive_id).decode("ascii"))

    def reply_envelope(self, payload: dict[str, Any], *, timestamp: str, nonce: str | None = None) -> dict[str, str]:
        """The AI bot's passive reply: ``{"encrypt","msgsignature","timestamp","nonce"}``."""
        nonce = nonce or "".join(secrets.choice(string.digits) for _ in range(10))
        encrypt = self.encrypt(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
        return {
            "encrypt": encrypt,
            "msgsignature": signature(self._token, timestamp, nonce, encrypt),
            "timestamp": timestamp,
            "nonce": nonce,
        }
