"""Signed web links and session cookies.

A link (``/web/open/<token>``) and a session cookie carry the same grant: a scope (one group, or
the organisation), the scope's link generation when it was made, and an expiry. Both are
HMAC-SHA256 signed with ``[web] secret``, each under its own derived key, so a cookie value is
no link and a link is no cookie. ``/admin web revoke`` bumps the group's generation
(:mod:`hubao.storage.web`), which turns every older link and session of the group away.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from hubao.bot.config import Config
from hubao.storage import web as store
from hubao.storage.tx import Tx

LINK = "link"
SESSION = "session"
MAX_TOKEN = 300
GROUP, ORG = "g", "o"


@dataclass(frozen=True, slots=True)
class Grant:
    """Who may see what: ``kind`` is ``g`` (one group, ``group_id``) or ``o`` (every group)."""

    kind: str
    group_id: int
    generation: int
    expires: int  # Unix seconds

    @property
    def scope(self) -> str:
        return store.ORG_SCOPE if self.kind == ORG else store.group_scope(self.group_id)

    def allows(self, group_id: int) -> bool:
        return self.kind == ORG or self.group_id == group_id


def _key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), f"hubao-web-{purpose}".encode(), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: str, purpose: str, grant: Grant) -> str:
    payload = _b64(f"1|{grant.kind}|{grant.group_id}|{grant.generation}|{grant.expires}".encode())
    mac = hmac.new(_key(secret, purpose), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


class Refusal(Exception):
    """Why a link or session was turned away: ``invalid``, ``expired`` or ``revoked``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify(secret: str, purpose: str, token: str, now: datetime) -> Grant:
    """The grant a token stands for; :class:`Refusal` if forged, malformed or expired
    (the generation is checked against the database by :func:`check_generation`)."""
    payload, _, mac = token.partition(".")
    if not secret or not payload or not mac or len(token) > MAX_TOKEN or not token.isascii():
        raise Refusal("invalid")
    expected = hmac.new(_key(secret, purpose), payload.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(mac)):
            raise Refusal("invalid")
        version, kind, group_id, generation, expires = _unb64(payload).decode().split("|")
        grant = Grant(kind, int(group_id), int(generation), int(expires))
    except (ValueError, UnicodeDecodeError):
        raise Refusal("invalid") from None
    if version != "1" or kind not in (GROUP, ORG):
        raise Refusal("invalid")
    if grant.expires < now.timestamp():
        raise Refusal("expired")
    return grant


async def check_generation(tx: Tx, grant: Grant) -> None:
    if await store.generation(tx, grant.scope) != grant.generation:
        raise Refusal("revoked")


async def new_grant(tx: Tx, config: Config, kind: str, group_id: int, now: datetime) -> Grant:
    scope = store.ORG_SCOPE if kind == ORG else store.group_scope(group_id)
    expires = int((now + config.web.link_ttl).timestamp())
    return Grant(kind, group_id if kind == GROUP else 0, await store.generation(tx, scope), expires)


def link_url(config: Config, grant: Grant) -> str:
    """The link to open (``[server] public_url`` + ``/web/open/<token>``)."""
    return f"{config.server.public_url.rstrip('/')}/web/open/{sign(config.web.secret, LINK, grant)}"


def enabled(config: Config) -> bool:
    """Links can be given: a key to sign them and a public address to put in them."""
    return bool(config.web.secret and config.server.public_url)


async def group_link(tx: Tx, config: Config, group_id: int, now: datetime) -> str | None:
    """A fresh link to the group's board, or None when the web board is not set up."""
    if not enabled(config):
        return None
    return link_url(config, await new_grant(tx, config, GROUP, group_id, now))
