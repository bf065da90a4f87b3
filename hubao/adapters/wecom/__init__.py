"""WeCom (企业微信) adapter: the 智能机器人 (AI bot) over its HTTP callback or its WebSocket long
connection, plus the optional group-robot webhook (消息推送) for proactive messages with real @-pings.

Only :class:`Settings` and :func:`create` live here so that importing the package stays cheap; the
transports are imported when the adapter is built.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from hubao.bot.config import Section

if TYPE_CHECKING:
    from hubao.bot.adapter import Adapter, AdapterContext

DEFAULT_WS_URL = "wss://openws.work.weixin.qq.com"
DEFAULT_API_BASE = "https://qyapi.weixin.qq.com"


class Settings(Section):
    """``[wecom]`` in the config file; every secret may come from ``HUBAO__WECOM__<KEY>``."""

    enabled: bool = False
    # "http": the AI bot posts encrypted JSON to {server.public_url}/callback/wecom.
    # "ws": the bot keeps one WebSocket long connection to ws_url (no public URL needed).
    transport: Literal["http", "ws"] = "ws"
    # The AI bot's display name, so "@name" is stripped from commands (first @word if empty).
    bot_name: str = ""

    # HTTP callback (API mode "URL 回调"): Token and EncodingAESKey from the admin console.
    token: str = ""
    encoding_aes_key: str = ""
    receive_id: str = ""  # "" for an internal AI bot (doc 101033)
    max_clock_skew: float = Field(default=300.0, gt=0)  # seconds; callbacks older than this are refused
    card_reply_timeout: float = Field(default=2.0, gt=0)  # answer a card click inline within this

    # Long connection (API mode "长连接"): BotID and Secret from the admin console.
    bot_id: str = ""
    secret: str = ""
    ws_url: str = DEFAULT_WS_URL
    heartbeat_interval: float = Field(default=30.0, gt=0)
    reconnect_min: float = Field(default=1.0, gt=0)
    reconnect_max: float = Field(default=30.0, gt=0)
    ack_timeout: float = Field(default=5.0, gt=0)
    # After WeCom says another connection took over the bot, wait this long before taking it back.
    kicked_backoff: float = Field(default=600.0, ge=0)
    # Database lease so only one local instance holds the connection; renewed every ttl/3.
    lease_ttl: float = Field(default=30.0, gt=0)
    # A reply may echo the inbound frame's req_id for this long, a card update for card_update_window.
    reply_window: float = Field(default=300.0, gt=0)
    card_update_window: float = Field(default=5.0, gt=0)

    # Base of qyapi: the group-robot webhook lives at {api_base}/cgi-bin/webhook/send?key=,
    # and response_url values must start with it.
    api_base: str = DEFAULT_API_BASE
    # Group-robot webhooks, WeCom chatid -> webhook key (a robot belongs to exactly one group).
    webhook_keys: dict[str, str] = Field(default_factory=dict)
    webhook_rate: int = Field(default=20, ge=1)  # messages per minute per robot (doc 91770)
    http_timeout: float = Field(default=10.0, gt=0)

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key(cls, value: str) -> str:
        if value:
            try:
                key = base64.b64decode(value + "=", validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if len(value) != 43 or len(key) != 32:
                raise ValueError("must be the 43-character EncodingAESKey from the admin console")
        return value

    @field_validator("ws_url")
    @classmethod
    def _ws_scheme(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("ws_url must start with ws:// or wss://")
        return value

    @field_validator("api_base")
    @classmethod
    def _http_scheme(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("api_base must start with http:// or https://")
        return value.rstrip("/")

    # Personal escalation (see [personal]): an application message (应用消息) through a self-built
    # app of the same corp — corp id, the app's AgentId and Secret; the people must be in its
    # visible range. Off while any of the three is empty.
    app_corp_id: str = ""
    app_agent_id: int = 0
    app_secret: str = Field(default="", repr=False)

    def personal_kinds(self, level: str) -> list[str]:
        return ["app"] if self.app_corp_id and self.app_agent_id and self.app_secret else []

    def missing_keys(self) -> list[str]:
        required = ("token", "encoding_aes_key") if self.transport == "http" else ("bot_id", "secret")
        return [key for key in required if not getattr(self, key)]


def create(settings: Settings, context: AdapterContext) -> Adapter:
    from hubao.adapters.wecom.adapter import WeComAdapter

    return WeComAdapter(settings, context)


__all__ = ["Settings", "create"]
