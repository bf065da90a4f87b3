"""External intake: monitoring and inventory systems raise risks over HTTP.

- ``POST /api/v1/groups/{group}/risks`` — one risk as JSON (``text``, ``level``, ``owner``,
  ``tags``, ``due``, ``urgent``, ``key``), authenticated with the group's token
  (``Authorization: Bearer …``, made by ``/admin token``). ``key`` (or the
  ``Idempotency-Key`` header) makes a retried request return the risk it already created.
- ``POST /api/v1/groups/{group}/alertmanager`` — an Alertmanager webhook (payload version 4):
  a firing alert opens a risk (one per fingerprint while it stays open), a resolved alert
  resolves it. Alertmanager's own re-sends therefore change nothing.

Risks made here go through the same code as ``/risk`` and ``/resolve`` (same policy, calendar
and escalation clocks); the group is told through the outbox. Every rejection is a 4xx with a
JSON ``{"error": code, "detail": …}`` and writes nothing. Only a SHA-256 of each token is
stored; comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.adapter import read_body
from hubao.bot.clock import Clock
from hubao.bot.config import Config
from hubao.bot.events import InboundEvent, OutboundMessage, User
from hubao.bot.i18n import Catalog
from hubao.bot.router import LEVEL_WORDS, Args, CommandContext, CommandSpec, Level, Role, Router, UsageError
from hubao.bot.sanitize import clean_line, clean_word
from hubao.handlers import requests
from hubao.handlers.access import enqueue_messages
from hubao.handlers.common import MAX_CONTENT
from hubao.handlers.duty import on_duty
from hubao.handlers.risks import create_risk
from hubao.scheduler.calendar import ALWAYS, Calendar
from hubao.storage import admin as admin_store
from hubao.storage import repo
from hubao.storage.db import Database
from hubao.storage.models import Group, Member, Risk
from hubao.storage.records import GroupRecord, RiskRecord, RiskRow
from hubao.storage.tx import Tx

log = logging.getLogger("hubao.intake")

RISKS_PATH = "/api/v1/groups/{group}/risks"
ALERTS_PATH = "/api/v1/groups/{group}/alertmanager"
MAX_RISK_BODY = 64 * 1024
MAX_ALERT_BODY = 1024 * 1024
MAX_DEPTH = 12
MAX_ALERTS = 200
MAX_LABELS = 64
MAX_LABEL_VALUE = 2048
MAX_TAGS = 10
TOKEN_PREFIX = "hbt_"
API_ACTOR = User("api:API", "API")
ALERT_ACTOR = User("alert:Alertmanager", "Alertmanager")
_TAG = re.compile(r"^[^\s#＃]{1,32}$")
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_FINGERPRINT = re.compile(r"^[0-9A-Za-z_\-:.]{1,64}$")
_SEVERITY = {
    "critical": Level.HIGH, "page": Level.HIGH, "high": Level.HIGH, "error": Level.HIGH, "p1": Level.HIGH,
    "warning": Level.MEDIUM, "warn": Level.MEDIUM, "medium": Level.MEDIUM, "p2": Level.MEDIUM,
    "info": Level.LOW, "low": Level.LOW, "none": Level.LOW, "p3": Level.LOW,
}  # fmt: skip
_DUMMY_HASH = "0" * 64


# --- tokens ----------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


async def issue_token(session: AsyncSession, group_id: int, actor: str, now: Any) -> tuple[str, bool]:
    """A new token for the group (replacing any older one); returned once, only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    replaced = await admin_store.set_token(session, group_id, hash_token(token), actor, now)
    return token, replaced


async def token_matches(session: AsyncSession, group_id: int, presented: str) -> bool:
    row = await admin_store.get_token(session, group_id)
    expected = row.token_hash if row is not None else _DUMMY_HASH
    return hmac.compare_digest(hash_token(presented), expected) and row is not None


# --- decoding (pure; property-tested) ----------------------------------------------------


class IntakeError(Exception):
    """A rejected request: HTTP ``status``, a stable ``code``, a human ``detail`` (no secrets)."""

    def __init__(self, status: int, code: str, detail: str = "") -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


def _no_constants(name: str) -> Any:
    raise IntakeError(400, "malformed_json", f"{name} is not JSON")


def decode_json(body: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Strict UTF-8 JSON, no NaN/Infinity, nesting at most ``max_depth``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IntakeError(400, "invalid_utf8", f"body is not UTF-8 (byte {exc.start})") from None
    if _depth_exceeds(text, max_depth):
        raise IntakeError(400, "too_deep", f"JSON nested deeper than {max_depth}")
    try:
        return json.loads(text, parse_constant=_no_constants)
    except IntakeError:
        raise
    except (ValueError, RecursionError) as exc:
        raise IntakeError(400, "malformed_json", str(exc)[:120]) from None


def _depth_exceeds(text: str, limit: int) -> bool:
    """Bracket depth outside strings, checked before parsing (a scan, no recursion)."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


@dataclass(frozen=True, slots=True)
class RiskRequest:
    text: str
    level: Level = Level.MEDIUM
    owner: str | None = None
    tags: tuple[str, ...] = ()
    due: str | None = None
    urgent: bool = False
    key: str | None = None
    target: str | None = None  # another group's name: a cross-group request from this group


RISK_FIELDS = frozenset({"text", "level", "owner", "tags", "due", "urgent", "key", "target"})


def parse_risk_request(data: Any, header_key: str | None = None) -> RiskRequest:
    if not isinstance(data, dict):
        raise IntakeError(422, "invalid", "body must be a JSON object")
    unknown = sorted(str(k)[:32] for k in data if k not in RISK_FIELDS)
    if unknown:
        raise IntakeError(422, "invalid", f"unknown field {unknown[0]!r}")
    text = _text(data.get("text"), "text")
    if not text:
        raise IntakeError(422, "invalid", "text is required")
    if len(text) > MAX_CONTENT:
        raise IntakeError(422, "invalid", f"text longer than {MAX_CONTENT} characters")
    level = _level(data.get("level", "medium"))
    owner = data.get("owner")
    if owner is not None and (not isinstance(owner, str) or not 0 < len(owner) <= 160):
        raise IntakeError(422, "invalid", "owner must be a member's name or id")
    due = data.get("due")
    if due is not None and (not isinstance(due, str) or not 0 < len(due) <= 40):
        raise IntakeError(422, "invalid", "due must be a time such as '2h' or '2026-11-30T18:00'")
    urgent = data.get("urgent", False)
    if not isinstance(urgent, bool):
        raise IntakeError(422, "invalid", "urgent must be true or false")
    key = data.get("key", header_key)
    if key is not None and (not isinstance(key, str) or not _KEY.match(key)):
        raise IntakeError(422, "invalid", "key must be 1-200 printable ASCII characters")
    target = data.get("target")
    if target is not None and (not isinstance(target, str) or not 0 < len(target) <= 128):
        raise IntakeError(422, "invalid", "target must be the name of a registered group")
    if target is not None and owner is not None:
        raise IntakeError(422, "invalid", "a request to another group is owned by its on-duty member: drop owner")
    return RiskRequest(
        text=text,
        level=Level.HIGH if urgent else level,
        owner=clean_word(owner) if owner else None,
        tags=_tags(data.get("tags", [])),
        due=clean_word(due) if due else None,
        urgent=urgent,
        key=key,
        target=clean_line(target, 128) if target else None,
    )


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise IntakeError(422, "invalid", f"{name} must be a string")
    if len(value) > MAX_CONTENT * 8:
        raise IntakeError(422, "invalid", f"{name} longer than {MAX_CONTENT} characters")
    return clean_line(value)


def _level(value: Any) -> Level:
    if not isinstance(value, str) or value.lower() not in LEVEL_WORDS:
        raise IntakeError(422, "invalid", "level must be high, medium or low (高/中/低)")
    return LEVEL_WORDS[value.lower()]


def _tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise IntakeError(422, "invalid", f"tags must be a list of at most {MAX_TAGS} words")
    tags: list[str] = []
    for item in value:
        tag = clean_word(item.lstrip("#＃")) if isinstance(item, str) else ""
        if not _TAG.match(tag):
            raise IntakeError(422, "invalid", "each tag is one word of at most 32 characters")
        tags.append(tag)
    return tuple(dict.fromkeys(tags))


@dataclass(frozen=True, slots=True)
class Alert:
    firing: bool
    fingerprint: str
    text: str
    level: Level
    owner: str | None
    tags: tuple[str, ...]
    starts_at: str
    target: str | None = None  # label or annotation ``target``: a request to that group


def parse_alertmanager(data: Any) -> list[Alert]:
    """The alerts of an Alertmanager webhook payload (version 4)."""
    if not isinstance(data, dict):
        raise IntakeError(422, "invalid", "body must be a JSON object")
    version = data.get("version", "4")
    if version != "4":
        raise IntakeError(422, "invalid", "only Alertmanager webhook payload version 4 is understood")
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise IntakeError(422, "invalid", "alerts must be a list")
    if len(alerts) > MAX_ALERTS:
        raise IntakeError(413, "too_many_alerts", f"at most {MAX_ALERTS} alerts per request (max_alerts)")
    return [_alert(item, i) for i, item in enumerate(alerts)]


def _alert(item: Any, index: int) -> Alert:
    where = f"alerts[{index}]"
    if not isinstance(item, dict):
        raise IntakeError(422, "invalid", f"{where} must be an object")
    status = item.get("status")
    if status not in ("firing", "resolved"):
        raise IntakeError(422, "invalid", f"{where}.status must be firing or resolved")
    labels = _string_map(item.get("labels", {}), f"{where}.labels")
    annotations = _string_map(item.get("annotations", {}), f"{where}.annotations")
    fingerprint = item.get("fingerprint")
    if fingerprint is None:
        canonical = json.dumps(sorted(labels.items()), ensure_ascii=True)
        fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    if not isinstance(fingerprint, str) or not _FINGERPRINT.match(fingerprint):
        raise IntakeError(422, "invalid", f"{where}.fingerprint is not a fingerprint")
    starts_at = item.get("startsAt", "")
    if not isinstance(starts_at, str) or len(starts_at) > 64:
        raise IntakeError(422, "invalid", f"{where}.startsAt must be a time string")
    name = clean_line(labels.get("alertname", ""), 80)
    summary = clean_line(annotations.get("summary") or annotations.get("description") or "", MAX_CONTENT)
    text = f"{name}: {summary}" if name and summary else name or summary or f"alert {fingerprint}"
    severity = (labels.get("severity") or labels.get("priority") or "").lower()
    owner = labels.get("owner") or annotations.get("owner") or None
    target = labels.get("target") or annotations.get("target") or None
    tag = clean_word(name)
    return Alert(
        firing=status == "firing",
        fingerprint=fingerprint,
        text=clean_line(text, MAX_CONTENT),
        level=_SEVERITY.get(severity, Level.MEDIUM),
        owner=clean_word(owner)[:160] if owner else None,
        tags=(tag,) if _TAG.match(tag) else (),
        starts_at=starts_at,
        target=clean_line(target, 128) if target else None,
    )


def _string_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > MAX_LABELS:
        raise IntakeError(422, "invalid", f"{where} must be an object of at most {MAX_LABELS} strings")
    for key, item in value.items():
        if not isinstance(item, str) or len(item) > MAX_LABEL_VALUE or len(key) > 256:
            raise IntakeError(422, "invalid", f"{where} values must be strings")
    return value


# --- HTTP -------------------------------------------------------------------------------


class Services(Protocol):
    """What the intake needs from the composition root (an ``App``)."""

    db: Database
    config: Config
    clock: Clock
    router: Router


def routes(services: Services) -> Sequence[web.RouteDef]:
    intake = Intake(services)
    return (web.post(RISKS_PATH, intake.post_risk), web.post(ALERTS_PATH, intake.post_alerts))


class Intake:
    def __init__(self, services: Services) -> None:
        self.services = services

    @property
    def config(self) -> Config:
        return self.services.config

    def _calendar_for(self) -> Callable[[GroupRecord], Calendar]:
        book = getattr(self.services, "calendars", None)
        return book if callable(book) else (lambda _g: ALWAYS)

    def _wake(self) -> None:
        deliverer = getattr(self.services, "deliverer", None)
        if deliverer is not None:
            deliverer.wake()

    # --- endpoints --------------------------------------------------------------------
    async def post_risk(self, request: web.Request) -> web.Response:
        try:
            group_id = await self._authorise(request)
            body = await _read_body(request, min(MAX_RISK_BODY, self.config.server.max_body_bytes))
            wanted = parse_risk_request(decode_json(body), _header_key(request))
            status, answer = await self._create(group_id, wanted)
        except IntakeError as exc:
            return _error(exc)
        self._wake()
        return web.json_response(answer, status=status)

    async def post_alerts(self, request: web.Request) -> web.Response:
        try:
            group_id = await self._authorise(request)
            body = await _read_body(request, min(MAX_ALERT_BODY, self.config.server.max_body_bytes))
            alerts = parse_alertmanager(decode_json(body))
            answer = await self._apply_alerts(group_id, alerts)
        except IntakeError as exc:
            return _error(exc)
        self._wake()
        return web.json_response(answer)

    # --- steps ------------------------------------------------------------------------
    async def _authorise(self, request: web.Request) -> int:
        """The group id of the URL, if the bearer token is that group's; checked before any body is read."""
        if request.content_type != "application/json":
            raise IntakeError(415, "unsupported_media_type", "send Content-Type: application/json")
        length = request.content_length
        if length is not None and length > self.config.server.max_body_bytes:
            raise IntakeError(413, "too_large", "request body too large")
        raw = request.match_info.get("group", "")
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise IntakeError(401, "unauthorized", "send Authorization: Bearer <group token>")
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
            raise IntakeError(401, "unauthorized", "unknown group or wrong token")
        group_id = int(raw)
        async with self.services.db.transaction() as session:
            ok = await token_matches(session, group_id, presented.strip())
        if not ok:
            log.warning("intake: rejected a request for group %s (unknown group or wrong token)", group_id)
            raise IntakeError(401, "unauthorized", "unknown group or wrong token")
        return group_id

    async def _create(self, group_id: int, wanted: RiskRequest) -> tuple[int, dict[str, Any]]:
        try:
            async with self.services.db.transaction() as session:
                group = await _group(session, group_id)
                if wanted.key is not None:
                    ref = await admin_store.get_ref(session, group_id, "api", wanted.key)
                    if ref is not None:
                        earlier = await session.get(Risk, ref.risk_id)
                        assert earlier is not None
                        return 200, {"duplicate": True, **_risk_json(earlier)}
                message_id = f"api:{wanted.key or secrets.token_hex(8)}"
                if wanted.target is not None:
                    args = Args(level=wanted.level, tags=wanted.tags, due=wanted.due, words=(wanted.text,))
                    risk = await self._request(session, group, wanted.target, args, message_id, "api", wanted.urgent)
                    if wanted.key is not None:
                        now = self.services.clock.now()
                        await admin_store.link_ref(session, group_id, "api", wanted.key, risk.id or 0, now)
                    return 201, _risk_json(risk)
                owner = await self._owner(session, group, wanted.owner, strict=True)
                args = Args(users=(owner,), level=wanted.level, tags=wanted.tags, due=wanted.due,
                            words=(wanted.text,))  # fmt: skip
                ctx = await self._context(session, group, API_ACTOR, args, message_id, "risk")
                try:
                    risk = await create_risk(
                        ctx, self.config, self._calendar_for(), level=wanted.level.value, urgent=wanted.urgent,
                        source="api",
                    )  # fmt: skip
                except UsageError as exc:
                    raise IntakeError(422, "invalid", exc.detail or "text is required") from None
                if wanted.key is not None:
                    now = self.services.clock.now()
                    await admin_store.link_ref(session, group_id, "api", wanted.key, risk.id or 0, now)
                await self._tell(session, ctx, f"intake:{group_id}:{risk.id}:created", "intake.from_api")
        except IntegrityError:
            raise IntakeError(409, "conflict", "a request with this key is being processed; retry") from None
        log.info("intake: group %s risk #%s from the API", group_id, risk.number)
        return 201, _risk_json(risk)

    async def _apply_alerts(self, group_id: int, alerts: list[Alert]) -> dict[str, Any]:
        created: list[int] = []
        resolved: list[int] = []
        unchanged = 0
        async with self.services.db.transaction() as session:
            group = await _group(session, group_id)
            for alert in alerts:
                ref = await admin_store.get_ref(session, group_id, "alert", alert.fingerprint)
                risk = await session.get(Risk, ref.risk_id) if ref is not None else None
                live = risk is not None and risk.status != "resolved"
                if alert.firing and not live:
                    number = await self._open_alert(session, group, alert)
                    created.append(number)
                elif not alert.firing and live:
                    assert risk is not None
                    # a request raised by this group's alert lives in the group it went to
                    owner_group = group if risk.group_id == group.id else await _group(session, risk.group_id)
                    await self._resolve_alert(session, owner_group, alert, risk)
                    resolved.append(risk.number)
                else:
                    unchanged += 1
        log.info("intake: group %s alerts: %d opened, %d resolved, %d unchanged", group_id, len(created),
                 len(resolved), unchanged)  # fmt: skip
        return {"created": created, "resolved": resolved, "unchanged": unchanged}

    async def _request(
        self, session: AsyncSession, asker: Group, target_name: str, args: Args, message_id: str, source: str,
        urgent: bool = False,
    ) -> RiskRow:
        """A cross-group request from ``asker`` (the token's group) to the group named ``target_name``."""
        en = Catalog("en")
        try:
            target = await requests.find_group(session, target_name)
            if target is None:
                raise IntakeError(422, "invalid", f"no group is called {target_name[:40]!r}")
            level = args.level.value if args.level else "medium"
            return await requests.open_request(
                await Tx.over(session), config=self.config, clock=self.services.clock,
                calendar_for=self._calendar_for(), risk_spec=self._risk_spec(), asker=asker,
                target=target, requester=API_ACTOR if source == "api" else ALERT_ACTOR, args=args,
                level="high" if urgent else level, message_id=message_id, source=source, urgent=urgent,
            )  # fmt: skip
        except requests.RequestRefused as exc:
            raise IntakeError(403, "refused", en(exc.key, **exc.fields)) from None
        except UsageError as exc:
            raise IntakeError(422, "invalid", exc.detail or "text is required") from None

    def _risk_spec(self) -> CommandSpec:
        spec = self.services.router.get("risk")
        if spec is None:  # pragma: no cover - the risk commands are always mounted
            raise IntakeError(503, "unavailable", "risk commands are not available")
        return spec

    async def _open_alert(self, session: AsyncSession, group: Group, alert: Alert) -> int:
        if alert.target is not None:
            args = Args(level=alert.level, tags=alert.tags, words=(alert.text,))
            message_id = f"alert:{alert.fingerprint}:{alert.starts_at}"
            risk = await self._request(session, group, alert.target, args, message_id, "alert")
            now = self.services.clock.now()
            await admin_store.link_ref(session, group.id or 0, "alert", alert.fingerprint, risk.id or 0, now)
            return risk.number
        owner = await self._owner(session, group, alert.owner, strict=False)
        args = Args(users=(owner,), level=alert.level, tags=alert.tags, words=(alert.text,))
        ctx = await self._context(
            session, group, ALERT_ACTOR, args, f"alert:{alert.fingerprint}:{alert.starts_at}", "risk"
        )
        try:
            risk = await create_risk(
                ctx, self.config, self._calendar_for(), level=alert.level.value, urgent=False, source="alert"
            )
        except UsageError as exc:
            raise IntakeError(422, "invalid", exc.detail or "alert without text") from None
        gid = group.id or 0
        await admin_store.link_ref(session, gid, "alert", alert.fingerprint, risk.id or 0, self.services.clock.now())
        await self._tell(session, ctx, f"alert:{gid}:{risk.id}:created", "intake.from_alert")
        return risk.number

    async def _resolve_alert(self, session: AsyncSession, group: Group, alert: Alert, risk: Risk) -> None:
        spec = self.services.router.get("resolve")
        if spec is None:  # pragma: no cover - the risk commands are always mounted
            raise IntakeError(503, "unavailable", "resolve is not available")
        t = _catalog(group, self.config)
        args = Args(risk=risk.number, words=(t("intake.alert_resolved_note"),))
        ctx = await self._context(session, group, ALERT_ACTOR, args, f"alert:{alert.fingerprint}:resolved", "resolve")
        await spec.handler(ctx)
        await self._tell(session, ctx, f"alert:{group.id}:{risk.id}:resolved:{risk.clock_epoch}", "intake.from_alert")

    async def _owner(self, session: AsyncSession, group: Group, wanted: str | None, *, strict: bool) -> User:
        """The named member, else whoever is on duty, else the leader, else the first member."""
        roster = await repo.members(session, group.id or 0)
        if wanted:
            found = _find_member(roster, wanted)
            if found is not None:
                return User(found.user_id, found.name)
            if strict:
                raise IntakeError(422, "invalid", "owner is not a member of this group")
        duty = await on_duty(session, group.id or 0)
        on_call = next((m for m in roster if m.user_id == duty), None) if duty else None
        leader = next((m for m in roster if m.user_id == group.leader_id), None)
        chosen = on_call or leader or (roster[0] if roster else None)
        if chosen is None:
            raise IntakeError(422, "invalid", "the group has no members to own the risk")
        return User(chosen.user_id, chosen.name)

    async def _context(
        self, session: AsyncSession, group: Group, actor: User, args: Args, message_id: str, command: str
    ) -> CommandContext[Tx]:
        spec = self.services.router.get(command)
        assert spec is not None
        now = self.services.clock.now()
        event = InboundEvent(
            platform=group.platform, chat_id=group.chat_id, sender=actor, text="", message_id=message_id, time=now
        )
        return CommandContext(
            event=event, spec=spec, args=args, store=await Tx.over(session), clock=self.services.clock,
            t=_catalog(group, self.config), group=group, roles=Role.ADMIN,
        )  # fmt: skip

    async def _tell(self, session: AsyncSession, ctx: CommandContext[Tx], key: str, source_key: str) -> None:
        """Queue what the command said to the group, marked with where the risk came from."""
        prefix = ctx.t(source_key)
        messages: list[OutboundMessage] = [m.with_text(f"{prefix}\n{m.text}") for m in ctx.out]
        ctx.out.clear()
        await enqueue_messages(session, messages, key, self.services.clock.now())


def _find_member(roster: list[Member], wanted: str) -> Member | None:
    for member in roster:
        if wanted in (member.user_id, member.name, member.user_id.split(":", 1)[-1]):
            return member
    return None


async def _group(session: AsyncSession, group_id: int) -> Group:
    group = await repo.get_group_by_id(session, group_id)
    if group is None:  # the token was checked, so the group existed a moment ago
        raise IntakeError(401, "unauthorized", "unknown group or wrong token")
    return group


def _catalog(group: Group, config: Config) -> Catalog:
    return Catalog(group.locale or config.bot.locale)


def _risk_json(risk: RiskRecord) -> dict[str, Any]:
    return {
        "number": risk.number,
        "status": risk.status,
        "level": risk.level,
        "owner": risk.owner_id,
        "respond_by": risk.respond_by.isoformat(),
        "resolve_by": risk.resolve_by.isoformat(),
        "source": risk.source,
    }


def _header_key(request: web.Request) -> str | None:
    value = request.headers.get("Idempotency-Key")
    return value if value else None


async def _read_body(request: web.Request, limit: int) -> bytes:
    body = await read_body(request, limit)
    if body is None:
        raise IntakeError(413, "too_large", f"request body larger than {limit} bytes")
    return body


def _error(exc: IntakeError) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="hubao"'} if exc.status == 401 else None
    return web.json_response({"error": exc.code, "detail": exc.detail}, status=exc.status, headers=headers)
