"""The ``[feishu]`` config section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hubao.bot.config import Section

FEISHU_API = "https://open.feishu.cn"


class Settings(Section):
    """Feishu (飞书) / Lark app bot.

    ``transport = "http"`` receives events and card callbacks at ``/callback/feishu``
    (事件订阅 "将事件发送至开发者服务器"); ``"long_connection"`` opens the long connection
    ("使用长连接接收事件") and needs no public URL. Sending always uses the im/v1 API.
    """

    enabled: bool = False
    transport: Literal["http", "long_connection"] = "http"
    app_id: str = ""
    app_secret: str = Field(default="", repr=False)
    # HTTP transport: with an Encrypt Key, bodies are AES-encrypted and signed
    # (X-Lark-Signature); without one, the Verification Token in each event is checked.
    encrypt_key: str = Field(default="", repr=False)
    verification_token: str = Field(default="", repr=False)
    # The bot's own open_id, to drop its @mention from commands. Empty: asked from
    # GET {api_base}/open-apis/bot/v3/info; ``bot_name`` is the last resort (name match).
    bot_open_id: str = ""
    bot_name: str = ""
    # Events carry only the sender's ids: look names up in the contact API (needs the
    # contact:user.base:readonly scope; without it senders are shown by open_id).
    resolve_names: bool = True
    # Every address the adapter calls (Lark: https://open.larksuite.com for both).
    api_base: str = FEISHU_API
    ws_endpoint_url: str = FEISHU_API + "/callback/ws/endpoint"
    # Seconds a signed request's X-Lark-Request-Timestamp may differ from our clock.
    timestamp_window: float = Field(default=300.0, gt=0)
    # Seconds to wait for a card click's answer before replying "processing" (Feishu allows 3).
    card_reply_timeout: float = Field(default=2.5, gt=0, le=2.9)
    http_timeout: float = Field(default=10.0, gt=0)
    # Long connection defaults until the server sends its own ClientConfig (seconds).
    ws_ping_interval: float = Field(default=120.0, gt=0)
    ws_reconnect_interval: float = Field(default=120.0, gt=0)
    ws_reconnect_nonce: float = Field(default=30.0, ge=0)

    # Personal escalation (消息加急) on the pings the bot sends: ``urgent_app`` buzzes the pinged
    # people in the app (scope im:message.urgent); SMS and phone buzzes spend the tenant's paid quota,
    # so they are opt-in per level (scopes im:message.urgent:sms, im:message.urgent:phone).
    urgent_app: bool = False
    urgent_sms_levels: list[Literal["high", "medium", "low"]] = Field(default_factory=list)
    urgent_phone_levels: list[Literal["high", "medium", "low"]] = Field(default_factory=list)

    def personal_kinds(self, level: str) -> list[str]:
        """The buzzes a ping of ``level`` gets (none until ``urgent_app`` is on)."""
        if not self.urgent_app:
            return []
        kinds = ["app"]
        kinds += ["sms"] if level in self.urgent_sms_levels else []
        kinds += ["phone"] if level in self.urgent_phone_levels else []
        return kinds

    def missing_keys(self) -> list[str]:
        missing = [key for key in ("app_id", "app_secret") if not getattr(self, key)]
        if self.transport == "http" and not (self.encrypt_key or self.verification_token):
            missing.append("verification_token")
        return missing
