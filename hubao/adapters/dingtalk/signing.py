"""DingTalk's one signature: base64(HMAC-SHA256(key=secret, msg=timestamp + "\\n" + secret)).

The robot HTTP callback sends it raw in the ``sign`` header (with ``timestamp`` in ms); the
custom robot webhook expects it URL-encoded in the ``sign`` query parameter. Neither covers
the body, so the timestamp window and de-duplication by ``msgId`` carry the replay defence.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from urllib.parse import quote_plus


def sign(secret: str, timestamp_ms: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_query(secret: str, timestamp_ms: str) -> str:
    """The URL-encoded form the custom robot webhook wants in ``&sign=``."""
    return quote_plus(sign(secret, timestamp_ms))


def timestamp_ms(now: datetime) -> str:
    return str(int(now.timestamp() * 1000))


class SignatureError(Exception):
    """The callback's ``timestamp``/``sign`` headers are missing, stale or wrong."""


def verify_callback(
    secret: str, timestamp: str | None, signature: str | None, now: datetime, window_s: float = 3600.0
) -> None:
    """Check a robot callback's headers; raises :class:`SignatureError` (never says which secret)."""
    if not timestamp or not signature:
        raise SignatureError("missing timestamp or sign header")
    if not timestamp.isdigit() or len(timestamp) > 16:
        raise SignatureError("malformed timestamp")
    skew = abs(now.timestamp() * 1000 - int(timestamp)) / 1000
    if skew > window_s:
        raise SignatureError(f"timestamp outside the window ({skew:.0f}s)")
    expected = sign(secret, timestamp)
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
        raise SignatureError("bad signature")
