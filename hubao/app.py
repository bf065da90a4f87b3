"""The composition root: wires config, storage, handlers, adapters, scheduler and delivery.

It sits above the design's folders (bot, adapters, handlers, storage, scheduler); nothing
below imports it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import BaseModel

from hubao.bot.adapter import Adapter, AdapterContext, AdapterModule, DispatchResult
from hubao.bot.clock import Clock, SystemClock
from hubao.bot.config import Config, load_config
from hubao.bot.delivery import Deliverer, RetryPolicy, parse_rate, register_channel_rule
from hubao.bot.dispatch import Dispatcher
from hubao.bot.events import InboundEvent, Lane, User
from hubao.bot.observability import Metrics, request_id
from hubao.bot.redact import collect_secrets, install_redaction
from hubao.bot.router import Router
from hubao.handlers import addressed as addressed_handlers
from hubao.handlers import admin as admin_handlers
from hubao.handlers import assessment as assessment_handlers
from hubao.handlers import duty as duty_handlers
from hubao.handlers import export as export_handlers
from hubao.handlers import goals as goal_handlers
from hubao.handlers import help as help_handlers
from hubao.handlers import incidents as incident_handlers
from hubao.handlers import intake, quarterly, weekly
from hubao.handlers import meetings as meeting_handlers
from hubao.handlers import personal as personal_handlers
from hubao.handlers import pledge as pledge_handlers
from hubao.handlers import register as register_handlers
from hubao.handlers import reports as report_handlers
from hubao.handlers import requests as request_handlers
from hubao.handlers import risks as risk_handlers
from hubao.handlers import survey as survey_handlers
from hubao.handlers.access import StoreBackend
from hubao.handlers.escalation import EscalationMessages
from hubao.scheduler.calendar import CalendarBook
from hubao.scheduler.sweep import EscalationSweep
from hubao.scheduler.timers import TimerSweep
from hubao.storage import migrate, repo
from hubao.storage import schedule as schedule_store
from hubao.storage.db import Database
from hubao.storage.leases import SqlLeases
from hubao.storage.models import Group
from hubao.storage.outbox import SqlOutbox
from hubao.web import commands as web_commands
from hubao.web import pages as web_pages

log = logging.getLogger("hubao.app")

# Platforms retry a delivery for up to a day (Feishu: 6 h after the first try; WeCom/DingTalk
# minutes); a delivery id is remembered twice that long so a late retry still has no effect.
DEDUPE_RETENTION = timedelta(hours=48)
# A held event is normally processed within milliseconds by the instance that stored it; the
# sweep takes over only those older than this (their instance died).
HELD_GRACE = timedelta(seconds=30)

# Adding a platform: one line here, and its package under hubao/adapters/.
PLATFORMS: dict[str, str] = {
    "console": "hubao.adapters.console",
    "wecom": "hubao.adapters.wecom",
    "dingtalk": "hubao.adapters.dingtalk",
    "feishu": "hubao.adapters.feishu",
}


def platform_module(name: str) -> AdapterModule:
    """An adapter package: its ``Settings`` model and ``create`` factory."""
    return cast(AdapterModule, importlib.import_module(PLATFORMS[name]))


def platform_settings_models() -> dict[str, type[BaseModel]]:
    """Each platform's settings model, for config validation (adapter packages import light)."""
    models: dict[str, type[BaseModel]] = {}
    for name in PLATFORMS:
        try:
            models[name] = platform_module(name).Settings
        except ModuleNotFoundError as exc:
            if exc.name != PLATFORMS[name]:
                raise
    return models


def read_config(path: str | None = None, **kwargs: Any) -> Config:
    return load_config(path, platform_models=platform_settings_models(), **kwargs)


def build_router(config: Config, calendar_for: CalendarBook | None = None) -> Router:
    table = Router()
    calendars = calendar_for or CalendarBook(config.escalation, config.bot.timezone)
    table.include(risk_handlers.router(config, calendar_for=calendars, is_workday=calendars.holidays.is_workday))
    table.include(meeting_handlers.router(config, calendar_for=calendars))
    table.include(duty_handlers.router(config, calendar_for=calendars))
    table.include(request_handlers.router(config, calendar_for=calendars, table=table))
    table.include(personal_handlers.router(config))
    table.include(report_handlers.router(config))
    table.include(incident_handlers.router(config, calendar_for=calendars))
    table.include(export_handlers.router(config))
    table.include(assessment_handlers.router(config))
    table.include(register_handlers.router(config, calendar_for=calendars))
    table.include(goal_handlers.router(config))
    table.include(pledge_handlers.router(config))
    table.include(survey_handlers.router(config))
    table.include(quarterly.router(config))
    table.include(web_commands.router(config))
    table.include(admin_handlers.router(config, table, calendar_for=calendars))
    table.include(help_handlers.router(table))
    table.include(addressed_handlers.router(config))
    return table


class App:
    """One bot instance. ``start()`` opens storage; ``serve()`` runs everything until cancelled."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        adapters: Mapping[str, Adapter] | None = None,
        instance_id: str | None = None,
    ) -> None:
        self.config = config
        install_redaction(collect_secrets(config))  # configured secrets never reach the logs
        self.clock = clock or SystemClock()
        self.instance_id = instance_id or f"{socket.gethostname()}-{os.getpid()}"
        self.db = Database(config.storage.url, application_name=f"hubao {self.instance_id}")
        self.backend = StoreBackend(self.db, config, self.clock)
        self.calendars = CalendarBook(config.escalation, config.bot.timezone)
        self.router = build_router(config, self.calendars)
        self.dispatcher = Dispatcher(self.router, self.backend, self.clock)
        self.leases = SqlLeases(self.db, self.clock, self.instance_id)
        self.outbox = SqlOutbox(self.db, self.instance_id)
        self.metrics = Metrics()
        self.adapters: dict[str, Adapter] = dict(adapters or {})
        self._build_enabled_adapters()
        rates = {name: parse_rate(rate) for name, rate in config.delivery.rates.items()}
        self.deliverer = Deliverer(
            self.outbox,
            self.adapters,
            self.clock,
            retry=RetryPolicy(
                max_attempts=config.delivery.max_attempts,
                base=config.delivery.backoff_base,
                cap=config.delivery.backoff_max,
            ),
            rates=rates,
            observe=self._observe_delivery,
            claim_ttl=config.delivery.claim_ttl,
        )
        for adapter in self.adapters.values():  # how each platform files messages into send channels
            rule = getattr(adapter, "channel_of", None)
            if rule is not None:
                register_channel_rule(adapter.platform, rule)
        self.escalations = EscalationSweep(
            self.db, self.clock, self.calendars, EscalationMessages(config),
            on_step=lambda step: self.metrics.escalations.labels(step).inc(),
        )
        # Database timers; features register their kinds here (see hubao.scheduler.timers).
        self.timers = TimerSweep(self.db, self.clock)
        self.timers.register(weekly.KIND, weekly.summary_handler(config, self.calendars))
        meeting_handlers.register_timers(self.timers, config)
        duty_handlers.register_timers(self.timers, config, self.calendars)
        incident_handlers.register_timers(self.timers, config)
        survey_handlers.register_timers(self.timers, config)
        quarterly.register_timers(self.timers, config, self.calendars)
        self._tasks: list[asyncio.Task[None]] = []
        self._processing: set[asyncio.Task[None]] = set()  # accepted events being processed
        self._deliveries_pruned_at: datetime | None = None

    # --- wiring -------------------------------------------------------------------------
    def adapter_context(self) -> AdapterContext:
        return AdapterContext(
            dispatch=self.dispatch,
            clock=self.clock,
            leases=self.leases,
            max_body_bytes=self.config.server.max_body_bytes,
            public_url=self.config.server.public_url,
            instance_id=self.instance_id,
            locale=self.config.bot.locale,
            accept=self.accept,
            hold=self.dispatcher.hold,
        )

    def _build_enabled_adapters(self) -> None:
        for name, settings in self.config.platforms.items():
            if name in self.adapters or name == "console" or not getattr(settings, "enabled", False):
                continue
            self.adapters[name] = platform_module(name).create(settings, self.adapter_context())

    async def start(self) -> None:
        if self.config.storage.auto_migrate:
            await migrate.upgrade(self.db)
        else:
            await self.db.create_schema()
        if self.db.is_sqlite:
            self._tasks.append(asyncio.create_task(self.db.checkpoint_forever()))

    async def close(self) -> None:
        if self._processing:  # durable already; what is cut short is finished at the next start
            await asyncio.wait(set(self._processing), timeout=5.0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for adapter in self.adapters.values():
            await adapter.stop()
        await self.db.dispose()

    # --- the one entry point ------------------------------------------------------------
    async def dispatch(self, event: InboundEvent, *, inline_replies: bool = False) -> DispatchResult:
        token = request_id.set(event.dedupe_key)
        start = time.perf_counter()
        try:
            result = await self.dispatcher(event, inline_replies=inline_replies)
        finally:
            self.metrics.command_seconds.labels(event.platform).observe(time.perf_counter() - start)
            request_id.reset(token)
        outcome = "duplicate" if result.duplicate else "handled" if result.handled else "ignored"
        self.metrics.inbound.labels(event.platform, outcome).inc()
        self.deliverer.wake()
        return result

    async def accept(self, event: InboundEvent) -> bool:
        """Store ``event`` with one insert, then process it in the background.

        Returns once the event is durable (False: it was stored before); raises when it could
        not be stored. Whatever a crash leaves unprocessed, :meth:`finish_held` processes.
        """
        if not await self.dispatcher.hold(event):
            self.metrics.inbound.labels(event.platform, "duplicate").inc()
            return False
        task = asyncio.create_task(self._process_held(event))
        self._processing.add(task)
        task.add_done_callback(self._processing.discard)
        return True

    async def _process_held(self, event: InboundEvent) -> None:
        adapter = self.adapters.get(event.platform)
        if adapter is not None:
            try:
                event = await adapter.enrich(event)
            except Exception:  # the event is processed as it arrived
                log.exception("completing held event %s failed", event.dedupe_key)
        await self.dispatch(event)

    async def finish_held(self, grace: timedelta = HELD_GRACE) -> int:
        """Process events stored but left unprocessed (a crash between storing and processing).

        Only those stored at least ``grace`` ago, so the instance that stored one a moment ago
        finishes it itself; taking one over twice is harmless (one transaction marks it done).
        """
        finished = 0
        while True:
            events = await self.dispatcher.held(self.clock.now() - grace)
            if not events:
                return finished
            for event in events:
                await self._process_held(event)
            finished += len(events)

    async def idle(self) -> None:
        """Wait until everything received so far is processed: the adapters' callback work,
        then the events accepted for processing in the background."""
        while True:
            for adapter in self.adapters.values():
                await adapter.idle()
            if not self._processing:
                return
            await asyncio.gather(*list(self._processing), return_exceptions=True)

    def _observe_delivery(self, platform: str, result: str) -> None:
        self.metrics.deliveries.labels(platform, result).inc()
        if result == "dead":
            self.metrics.dead.labels(platform).inc()

    # --- time-driven work ---------------------------------------------------------------
    async def deliver(self) -> int:
        """Send everything in the outbox that is due now."""
        return await self.deliverer.run_once()

    async def sweep(self) -> int:
        """One scheduler pass at the clock's time: due escalation steps, then due timers."""
        now = self.clock.now()
        with self.metrics.timed_sweep():
            performed = await self.finish_held()
            performed += await self.escalations.run_once(now)
            async with self.db.transaction() as session:
                await weekly.ensure_weekly(session, self.config, now, self.calendars)
                await quarterly.ensure_quarterly(session, self.config, now, self.calendars)
            performed += await self.timers.run_once(now)
            await self._forget_old_deliveries(now)
        return performed

    async def _forget_old_deliveries(self, now: datetime) -> None:
        """Drop de-duplication records past their retention, at most once an hour per instance."""
        if self._deliveries_pruned_at is not None and now - self._deliveries_pruned_at < timedelta(hours=1):
            return
        self._deliveries_pruned_at = now
        async with self.db.transaction() as session:
            await repo.forget_deliveries_before(session, now - DEDUPE_RETENTION)

    async def run_due(self) -> None:
        """Everything the scheduler would run at the clock's current time, then delivery."""
        await self.sweep()
        await self.deliver()

    async def next_due(self) -> datetime | None:
        """The earliest moment anything is due: an escalation step, a timer or an outbox attempt."""
        async with self.db.transaction() as session:
            times = [
                await schedule_store.next_risk_due(session),
                await schedule_store.next_timer_due(session, self.timers.kinds),
                await schedule_store.next_outbox_due(session),
            ]
        present = [t for t in times if t is not None]
        return min(present) if present else None

    async def advance(self, delta: timedelta, step: timedelta = timedelta(minutes=1)) -> None:
        """Move a manual clock forward by ``delta``, running due work in order as time passes.

        Jumps straight to the next moment something is due (never past the target), so a day
        costs as many passes as there are due moments; ``step`` is the smallest jump.
        """
        move: Callable[[datetime], Any] | None = getattr(self.clock, "set", None)
        if move is None:
            raise RuntimeError("only a manual clock can be advanced")
        target = self.clock.now() + delta
        await self.run_due()
        while self.clock.now() < target:
            now = self.clock.now()
            due = await self.next_due()
            if due is None or due > target:
                due = target
            elif due <= now:  # left due by a failure; do not spin on it
                due = min(now + step, target)
            move(due)
            await self.run_due()

    # --- groups -------------------------------------------------------------------------
    async def register_group(self, platform: str, chat_id: str, name: str, leader: User | None = None) -> Group:
        async with self.db.transaction() as session:
            group = await repo.get_group(session, platform, chat_id)
            if group is not None:
                return group
            now = self.clock.now()
            group = await repo.create_group(
                session,
                platform=platform,
                chat_id=chat_id,
                name=name,
                now=now,
                leader_id=leader.id if leader else None,
            )
            if leader is not None:
                await repo.upsert_member(session, group.id or 0, leader.id, leader.name, now)
            await repo.add_event(
                session,
                group_id=group.id or 0,
                risk_id=None,
                actor_id=leader.id if leader else "system",
                kind="group.setup",
                at=now,
                data={"name": name},
            )
            return group

    async def set_leader(self, group: Group, leader: User) -> None:
        async with self.db.transaction() as session:
            row = await session.get(Group, group.id)
            assert row is not None
            row.leader_id = leader.id
            session.add(row)
            await repo.upsert_member(session, row.id or 0, leader.id, leader.name, self.clock.now())
            await repo.add_event(
                session,
                group_id=row.id or 0,
                risk_id=None,
                actor_id="system",
                kind="group.leader",
                at=self.clock.now(),
                data={"leader": leader.id},
            )

    # --- HTTP ---------------------------------------------------------------------------
    def web_app(self) -> web.Application:
        application = web.Application(
            client_max_size=self.config.server.max_body_bytes, middlewares=[_request_id_middleware]
        )
        application.router.add_get("/healthz", self._healthz)
        application.router.add_get("/readyz", self._readyz)
        application.router.add_get("/metrics", self._metrics)
        application.router.add_routes(export_handlers.routes(self.db, self.config, self.clock))
        application.router.add_routes(intake.routes(self))
        application.add_subapp("/web", web_pages.application(self.db, self.config, self.clock))
        for adapter in self.adapters.values():
            application.router.add_routes(adapter.routes())
        return application

    async def _healthz(self, _request: web.Request) -> web.Response:
        """Liveness: the process answers."""
        return web.json_response({"status": "ok", "instance": self.instance_id})

    async def _readyz(self, _request: web.Request) -> web.Response:
        """Readiness: the database answers and every long connection this instance holds is up."""
        checks: dict[str, str] = {}
        try:
            await self.db.ping()
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        for name, adapter in self.adapters.items():
            state = adapter.connection_up()
            if state is not None:
                checks[name] = "up" if state else "down"
        ready = all(v in ("ok", "up") for v in checks.values())
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        self.metrics.outbox.clear()
        for lane, state, count in await self.outbox.depth():
            self.metrics.outbox.labels(Lane(lane).name.lower(), state).set(count)
        for name, adapter in self.adapters.items():
            up = adapter.connection_up()
            if up is not None:
                self.metrics.connection_up.labels(name).set(1 if up else 0)
        return web.Response(body=self.metrics.render(), headers={"Content-Type": self.metrics.content_type})

    async def serve(self) -> None:
        """Run the HTTP server, long connections, delivery worker and scheduler until cancelled."""
        await self.start()
        runner = web.AppRunner(self.web_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.config.server.host, self.config.server.port)
        await site.start()
        log.info("listening on %s:%s", self.config.server.host, self.config.server.port)
        for adapter in self.adapters.values():
            await adapter.start()
        finished = await self.finish_held(timedelta(0))  # what a crash left between storing and processing
        if finished:
            log.info("finished %d event(s) received before a restart", finished)
        poll = self.config.delivery.poll_interval.total_seconds()
        self._tasks.append(asyncio.create_task(self.deliverer.run_forever(poll)))
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_job(
            self._sweep_job,
            "interval",
            seconds=self.config.escalation.sweep_interval.total_seconds(),
            id="sweep",
            next_run_time=datetime.now(UTC),  # catch up at once after downtime
            max_instances=1,
            coalesce=True,
        )
        scheduler.start()
        try:
            await asyncio.Event().wait()
        finally:
            scheduler.shutdown(wait=False)
            await runner.cleanup()
            await self.close()

    async def _sweep_job(self) -> None:
        try:
            if await self.sweep():
                self.deliverer.wake()
        except Exception:
            log.exception("scheduler sweep failed")


@web.middleware
async def _request_id_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every HTTP request gets an id (the caller's X-Request-Id, else a new one) in logs and the answer."""
    rid = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex[:16]
    token = request_id.set(rid)
    try:
        response: web.StreamResponse = await handler(request)
    finally:
        request_id.reset(token)
    response.headers["X-Request-Id"] = rid
    return response


def default_config_path() -> str | None:
    path = os.environ.get("HUBAO_CONFIG")
    if path:
        return path
    return "hubao.toml" if os.path.exists("hubao.toml") else None
