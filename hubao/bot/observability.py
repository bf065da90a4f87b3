"""Prometheus metrics and structured logs with a request id.

Each :class:`App` owns one :class:`Metrics` (its own registry), so several instances in one
process — as in tests — never share counters.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("hubao_request_id", default="-")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.inbound = Counter(
            "hubao_inbound_events", "Inbound events by platform and outcome", ["platform", "outcome"], registry=r
        )
        self.command_seconds = Histogram(
            "hubao_command_seconds", "Time to dispatch one inbound event", ["platform"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.outbox = Gauge("hubao_outbox_messages", "Outbox messages by lane and state", ["lane", "state"], registry=r)
        self.deliveries = Counter(
            "hubao_deliveries", "Send attempts by platform and result (sent, retry, dead)", ["platform", "result"],
            registry=r,
        )
        self.dead = Counter("hubao_dead_messages", "Messages that went dead after the last attempt", ["platform"],
                            registry=r)
        self.sweep_seconds = Histogram("hubao_sweep_seconds", "Duration of one scheduler sweep",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.escalations = Counter("hubao_escalations_sent", "Escalation steps performed", ["step"], registry=r)
        self.connection_up = Gauge("hubao_long_connection_up", "1 while a platform long connection is up",
                                   ["platform"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    @contextmanager
    def timed_sweep(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.sweep_seconds.observe(time.perf_counter() - start)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id.get()),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RequestIdFilter(logging.Filter):
    """Adds the current request id to every record, for the text format too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


def configure_logging(level: str = "warning", fmt: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))
