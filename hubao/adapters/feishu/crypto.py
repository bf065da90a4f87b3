"""Feishu event crypto: ``X-Lark-Signature`` and the ``{"encrypt": …}`` body.

- signature = hex(sha256(utf8(timestamp + nonce + encrypt_key) + raw_body))
- encrypt = base64(iv(16) + AES-256-CBC(key=sha256(encrypt_key), PKCS7(16)))
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


class CryptoError(Exception):
    """The body cannot be decrypted with the configured key (no detail leaks the key)."""


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def signature_ok(timestamp: str, nonce: str, encrypt_key: str, body: bytes, given: str) -> bool:
    expected = signature(timestamp, nonce, encrypt_key, body)
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def decrypt(encrypted: str, encrypt_key: str) -> bytes:
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CryptoError("encrypt is not base64") from exc
    if len(raw) < 32 or len(raw) % 16:
        raise CryptoError("encrypt has a bad length")
    decryptor = Cipher(_aes(encrypt_key), modes.CBC(raw[:16])).decryptor()
    padded = decryptor.update(raw[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise CryptoError("bad padding (wrong key?)") from exc


@functools.lru_cache(maxsize=8)
def _aes(encrypt_key: str) -> algorithms.AES:
    """The AES key of an Encrypt Key (sha256 of it), derived once per key rather than per event."""
    return algorithms.AES(hashlib.sha256(encrypt_key.encode()).digest())
