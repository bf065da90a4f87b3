"""The ``[dingtalk]`` config section."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hubao.bot.config import Section


class CustomRobot(BaseModel):
    """A custom (webhook) robot added to one group: send-only, but it can @all and @users."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    secret: str = ""


class Settings(Section):
    """DingTalk internal-app robot (receive + send) plus optional custom robots (@all pings).

    ``client_id``/``client_secret`` are the app's AppKey/AppSecret (also called ClientID and
    ClientSecret in the developer console). The robot code defaults to the AppKey.
    """

    enabled: bool = False
    transport: Literal["stream", "http"] = "stream"
    client_id: str = ""
    client_secret: str = ""
    robot_code: str = ""

    # Every address the adapter calls; the defaults are DingTalk's real ones.
    api_base: str = "https://api.dingtalk.com"
    oapi_base: str = "https://oapi.dingtalk.com"
    gateway_url: str = "https://api.dingtalk.com/v1.0/gateway/connections/open"

    # Custom robot of a single group: a full webhook URL (or just its access_token, which is
    # then combined with oapi_base) and its 加签 secret. ``webhook_chat_id`` is the
    # openConversationId of that group; empty means "the only group this bot serves".
    webhook_url: str = ""
    webhook_secret: str = ""
    webhook_chat_id: str = ""
    # More groups: openConversationId -> custom robot.
    webhooks: dict[str, CustomRobot] = Field(default_factory=dict)
    webhook_per_minute: int = Field(default=20, ge=1, le=1000)

    # Interactive card (risk buttons). Empty template id = plain markdown with command hints.
    card_template_id: str = ""
    card_callback_route_key: str = "hubao"
    # Secret path token of the HTTP card callback URL (registered with DingTalk by start()).
    card_callback_token: str = ""

    # Stream-mode liveness: a WebSocket ping every ping_interval seconds; no inbound traffic at
    # all for keepalive seconds means the connection is dead and is replaced.
    ping_interval: float = Field(default=20.0, gt=0)
    keepalive: float = Field(default=60.0, gt=0)
    reconnect_min: float = Field(default=1.0, gt=0)
    reconnect_max: float = Field(default=60.0, gt=0)
    request_timeout: float = Field(default=10.0, gt=0)

    # HTTP callback: accepted clock skew of the signed timestamp, seconds.
    signature_window: float = Field(default=3600.0, gt=0)
    # A session webhook this close to expiry is not used any more, seconds.
    session_margin: float = Field(default=60.0, ge=0)

    # Personal escalation (see [personal]): "robot" = a one-to-one message from the app robot
    # (v1.0/robot/oToMessages/batchSend, permission qyapi_robot_sendmsg); "work_notice" = a work
    # notification (工作通知, topapi/message/corpconversation/asyncsend_v2) from the app ``agent_id``.
    personal: Literal["off", "robot", "work_notice"] = "off"
    agent_id: str = ""

    def personal_kinds(self, level: str) -> list[str]:
        """How the pinged people are reached directly (nothing until ``personal`` is set)."""
        return [] if self.personal == "off" else [self.personal]

    def missing_keys(self) -> list[str]:
        missing = [key for key in ("client_id", "client_secret") if not getattr(self, key)]
        if self.personal == "work_notice" and not self.agent_id:
            missing.append("agent_id")
        if self.transport == "http" and self.card_template_id and not self.card_callback_token:
            missing.append("card_callback_token")
        return missing

    @property
    def effective_robot_code(self) -> str:
        return self.robot_code or self.client_id

    def custom_robot_for(self, chat_id: str) -> CustomRobot | None:
        """The custom robot posting into ``chat_id``, if one is configured."""
        if chat_id in self.webhooks:
            robot = self.webhooks[chat_id]
            return CustomRobot(url=self._full_webhook(robot.url), secret=robot.secret)
        if self.webhook_url and (not self.webhook_chat_id or self.webhook_chat_id == chat_id):
            return CustomRobot(url=self._full_webhook(self.webhook_url), secret=self.webhook_secret)
        return None

    def _full_webhook(self, url_or_token: str) -> str:
        if "://" in url_or_token:
            return url_or_token
        return f"{self.oapi_base.rstrip('/')}/robot/send?access_token={url_or_token}"
