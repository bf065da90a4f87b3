"""Configuration: one TOML file, environment overrides, strict validation.

``HUBAO__FEISHU__APP_SECRET=…`` overrides ``[feishu] app_secret``. Unknown keys and
missing required values stop start-up with a message naming the key. Platform sections
are validated by the model each adapter registers, so the kernel knows no platform.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hubao.bot.timeparse import parse_duration

ENV_PREFIX = "HUBAO__"
M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """Start-up stops with this; the message names the offending key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError("expected a duration such as '1h' or '30m'")


class BotSection(Section):
    name: str = "互保助手"
    locale: Literal["zh", "en"] = "zh"
    timezone: str = "Asia/Shanghai"
    admins: list[str] = Field(default_factory=list)
    auto_join: bool = True

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("admins")
    @classmethod
    def _namespaced(cls, value: list[str]) -> list[str]:
        for item in value:
            if ":" not in item:
                raise ValueError(f"admin {item!r} must be namespaced, e.g. 'feishu:ou_xxx'")
        return value


class StorageSection(Section):
    url: str = "sqlite+aiosqlite:///hubao.db"
    # Apply pending schema migrations at start-up (else run `hubao db upgrade` yourself).
    auto_migrate: bool = True


class ServerSection(Section):
    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = ""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)


class PolicySection(Section):
    """An escalation policy; per-level sections override the defaults key by key."""

    respond: timedelta | None = None
    resolve: timedelta | None = None
    repeat: timedelta | None = None
    max_repeats: int | None = Field(default=None, ge=0, le=100)
    resolve_repeat: timedelta | None = None

    _parse = field_validator("respond", "resolve", "repeat", "resolve_repeat", mode="before")(
        lambda cls, v: None if v is None else _duration(v)
    )


class EscalationSection(Section):
    respond: timedelta = timedelta(hours=1)
    resolve: timedelta = timedelta(hours=24)
    repeat: timedelta = timedelta(hours=1)
    max_repeats: int = Field(default=3, ge=0, le=100)
    resolve_repeat: timedelta = timedelta(days=1)
    max_snooze: timedelta = timedelta(days=7)
    sweep_interval: timedelta = timedelta(seconds=30)
    calendar: Literal["always", "workdays"] = "always"
    work_hours: str = "09:00-18:00"
    holidays_file: str = ""
    levels: dict[Literal["high", "medium", "low"], PolicySection] = Field(default_factory=dict)

    _parse = field_validator(
        "respond", "resolve", "repeat", "resolve_repeat", "max_snooze", "sweep_interval", mode="before"
    )(lambda cls, v: _duration(v))


class PersonalSection(Section):
    """Escalation steps that also reach the pinged people directly (each platform's way, when its
    section turns it on): ``urgent`` (the /urgent post), ``respond`` / ``resolve`` (every ping of
    that window) or ``respond:N`` / ``resolve:N`` (its N-th ping)."""

    steps: list[str] = Field(default_factory=lambda: ["urgent", "resolve:1"])

    @field_validator("steps")
    @classmethod
    def _known_steps(cls, value: list[str]) -> list[str]:
        for step in value:
            name, _, repeat = step.partition(":")
            if name not in ("urgent", "respond", "resolve") or (repeat and not repeat.isdigit()):
                raise ValueError(f"unknown step {step!r}: use urgent, respond, resolve, respond:N or resolve:N")
        return value


class DeliverySection(Section):
    max_attempts: int = Field(default=15, ge=1, le=50)  # with the backoff below: about an hour
    backoff_base: timedelta = timedelta(seconds=2)
    backoff_max: timedelta = timedelta(minutes=10)
    poll_interval: timedelta = timedelta(seconds=1)
    # How long a worker's claim on a message lasts unless renewed (every third of it while the
    # worker lives): a dead instance's messages are taken over after at most this long.
    claim_ttl: timedelta = timedelta(seconds=10)
    # Per-platform override of the per-chat rate, e.g. {"feishu" = "5/1s", "wecom" = "20/60s"}.
    rates: dict[str, str] = Field(default_factory=dict)

    _parse = field_validator("backoff_base", "backoff_max", "poll_interval", "claim_ttl", mode="before")(
        lambda cls, v: _duration(v)
    )

    @field_validator("claim_ttl")
    @classmethod
    def _claim_ttl_range(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=3) <= value <= timedelta(minutes=10):
            raise ValueError("must be between 3s and 10m")
        return value


class DigestSection(Section):
    weekly: str = "fri 17:00"
    jitter: timedelta = timedelta(minutes=5)

    _parse = field_validator("jitter", mode="before")(lambda cls, v: _duration(v))


class MeetingsSection(Section):
    auto_close: timedelta = timedelta(hours=3)  # a meeting left open is closed and posted after this

    _parse = field_validator("auto_close", mode="before")(lambda cls, v: _duration(v))


class IncidentsSection(Section):
    prompt_every: timedelta = timedelta(minutes=30)  # ask for a progress update this often

    _parse = field_validator("prompt_every", mode="before")(lambda cls, v: _duration(v))


class RegisterSection(Section):
    stale_after: timedelta = timedelta(days=90)  # a register entry not reviewed this long is flagged weekly

    _parse = field_validator("stale_after", mode="before")(lambda cls, v: _duration(v))


class SurveySection(Section):
    auto_close: timedelta = timedelta(days=7)  # a survey left open is closed and its results posted after this
    remind_before: timedelta = timedelta(days=1)  # who has not answered is pinged this long before closing

    _parse = field_validator("auto_close", "remind_before", mode="before")(lambda cls, v: _duration(v))


class PointsSection(Section):
    """互保贡献积分 rules; every point is derived from an event of the audit trail."""

    report_resolved: int = Field(default=2, ge=0, le=100)
    ack_in_time: int = Field(default=1, ge=0, le=100)
    resolve_in_time: int = Field(default=3, ge=0, le=100)
    help_resolve: int = Field(default=2, ge=0, le=100)


class ExportSection(Section):
    secret: str = ""  # HMAC key of /admin export download links
    link_ttl: timedelta = timedelta(hours=24)

    _parse = field_validator("link_ttl", mode="before")(lambda cls, v: _duration(v))


_MATRIX_LEVELS = {"H": "high", "M": "medium", "L": "low", "高": "high", "中": "medium", "低": "low"}


class AssessmentSection(Section):
    """How a risk's level follows from its 可能性 × 影响 (likelihood × impact, 1-5 each).

    By score (likelihood × impact): ``high_from`` and up is high, ``medium_from`` and up medium,
    else low. ``matrix`` (five rows, likelihood 1 to 5; each five letters H/M/L or 高/中/低 for
    impact 1 to 5) replaces the thresholds when given.
    """

    high_from: int = Field(default=15, ge=1, le=25)
    medium_from: int = Field(default=8, ge=1, le=25)
    matrix: list[str] = Field(default_factory=list)

    @field_validator("matrix")
    @classmethod
    def _five_by_five(cls, value: list[str]) -> list[str]:
        if value and (len(value) != 5 or any(len(row) != 5 or set(row) - set(_MATRIX_LEVELS) for row in value)):
            raise ValueError("five rows of five letters H/M/L (or 高/中/低), likelihood 1-5 by impact 1-5")
        return value

    def level(self, likelihood: int, impact: int) -> str:
        """high / medium / low for an assessment (both 1-5)."""
        if self.matrix:
            return _MATRIX_LEVELS[self.matrix[likelihood - 1][impact - 1]]
        score = likelihood * impact
        return "high" if score >= self.high_from else "medium" if score >= self.medium_from else "low"


class WebSection(Section):
    """The web board: signed links from the chat (``/board web``) and the sessions they open."""

    secret: str = ""  # HMAC key of web links and session cookies; empty = the web board is off
    link_ttl: timedelta = timedelta(days=7)  # how long a link from the chat or the CLI opens the board
    session_ttl: timedelta = timedelta(hours=12)  # how long an opened board stays signed in
    refresh: timedelta = timedelta(seconds=30)  # how often an open board refreshes itself

    _parse = field_validator("link_ttl", "session_ttl", "refresh", mode="before")(lambda cls, v: _duration(v))


class Config(Section):
    bot: BotSection = BotSection()
    storage: StorageSection = StorageSection()
    server: ServerSection = ServerSection()
    escalation: EscalationSection = EscalationSection()
    personal: PersonalSection = PersonalSection()
    delivery: DeliverySection = DeliverySection()
    digest: DigestSection = DigestSection()
    meetings: MeetingsSection = MeetingsSection()
    incidents: IncidentsSection = IncidentsSection()
    risk_register: RegisterSection = RegisterSection()
    survey: SurveySection = SurveySection()
    points: PointsSection = PointsSection()
    export: ExportSection = ExportSection()
    assessment: AssessmentSection = AssessmentSection()
    web: WebSection = WebSection()
    # Validated platform sections, keyed by platform name (models come from the adapters).
    platforms: dict[str, Any] = Field(default_factory=dict)


KERNEL_SECTIONS = frozenset(name for name in Config.model_fields if name != "platforms")


def load_config(
    path: str | Path | None = None,
    *,
    platform_models: Mapping[str, type[BaseModel]] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read TOML (if given), apply ``HUBAO__`` environment overrides, validate strictly."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    _apply_env(data, os.environ if environ is None else environ)
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted.split("."), value)

    models = dict(platform_models or {})
    for key in data:
        if key not in KERNEL_SECTIONS and key not in models:
            raise ConfigError(f"unknown config key '{key}'")
    platforms: dict[str, Any] = {}
    for name, model in models.items():
        section = _validate(model, data.pop(name, {}), prefix=name)
        if getattr(section, "enabled", False):
            for key in getattr(section, "missing_keys", lambda: [])():
                raise ConfigError(f"missing required config key '{name}.{key}' (platform '{name}' is enabled)")
        platforms[name] = section
    kernel = _validate(Config, data, prefix="")
    return kernel.model_copy(update={"platforms": platforms})


def _validate(model: type[M], data: Any, *, prefix: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in ((prefix,) if prefix else ()) + tuple(first["loc"]))
        kind = first["type"]
        if kind == "extra_forbidden":
            raise ConfigError(f"unknown config key '{key}'") from None
        if kind == "missing":
            raise ConfigError(f"missing required config key '{key}'") from None
        raise ConfigError(f"bad value for config key '{key}': {first['msg']}") from None


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if path:
            _set_dotted(data, path, _env_value(raw))


def _env_value(raw: str) -> Any:
    """Numbers, booleans and arrays are read as TOML; anything else is a plain string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _set_dotted(data: dict[str, Any], path: list[str], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config key '{'.'.join(path)}' conflicts with a value")
        node = child
    node[path[-1]] = value
