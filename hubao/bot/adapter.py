"""The seam between the kernel and a platform.

An adapter verifies and decodes what arrives into :class:`InboundEvent` and hands it to
the one ``dispatch`` callable it was given; it renders and sends :class:`OutboundMessage`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from hubao.bot.clock import Clock
from hubao.bot.config import Section
from hubao.bot.events import InboundEvent, OutboundMessage
from hubao.bot.lease import Leases


@dataclass(frozen=True, slots=True)
class DispatchResult:
    """What dispatching one event produced.

    ``replies`` are only filled when the caller asked for inline replies (a transport that
    answers in its HTTP response or ACK frame, e.g. a card click). Otherwise every reply
    went to the durable outbox and ``replies`` is empty.
    """

    duplicate: bool = False
    replies: tuple[OutboundMessage, ...] = ()
    handled: bool = True
    # False only when nothing could be written (the database failed): the delivery is not
    # durable, so the transport must not answer "received" (a 5xx lets the platform retry).
    recorded: bool = True


async def read_body(request: web.Request, limit: int) -> bytes | None:
    """The whole request body however it was sent; None when it is larger than ``limit`` bytes."""
    length = request.content_length
    if length is not None:
        if length > limit:
            return None
        try:  # one read: the stream ends at Content-Length
            return await request.content.readexactly(length)
        except asyncio.IncompleteReadError as exc:  # the client went away; what came fails verification
            return exc.partial
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


class Dispatch(Protocol):
    def __call__(self, event: InboundEvent, *, inline_replies: bool = False) -> Awaitable[DispatchResult]: ...


class Hold(Protocol):
    def __call__(self, event: InboundEvent) -> Awaitable[bool]: ...


class DeliveryError(Exception):
    """A send failed. ``retryable`` errors are retried with backoff; others go dead at once."""

    def __init__(self, detail: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class SendLimit:
    """A token bucket per target chat: ``rate`` messages per ``per`` seconds."""

    rate: int
    per: float


class Adapter:
    """Base class for platform adapters; subclasses override what their platform offers."""

    platform: str = "none"
    send_limit: SendLimit = SendLimit(20, 60.0)
    max_text_bytes: int = 4000

    def routes(self) -> Sequence[web.RouteDef]:
        """HTTP callback routes, mounted beside /healthz by ``hubao serve``."""
        return ()

    async def start(self) -> None:
        """Open long connections, if the configured transport uses them."""

    async def stop(self) -> None:
        """Close connections; must return promptly on shutdown."""

    async def send(self, message: OutboundMessage) -> None:
        """Deliver one message (already split to fit); raise :class:`DeliveryError` on failure."""
        raise NotImplementedError

    async def idle(self) -> None:
        """Wait until the work callbacks started in the background is done (tests, shutdown)."""

    async def enrich(self, event: InboundEvent) -> InboundEvent:
        """Complete a held event before it is processed (e.g. look up the sender's name).

        Runs after the event is durable, so it may take network time; it must not raise.
        """
        return event

    def connection_up(self) -> bool | None:
        """For long-connection transports: is the connection up? None when there is none to hold.

        An instance that deliberately does not hold a single-holder connection reports None.
        """
        return None

    async def check(self) -> list[str]:
        """``hubao doctor``: problems with the configured credentials and URLs (empty = fine)."""
        return []



@dataclass(frozen=True)
class AdapterContext:
    """What the composition root hands every adapter it builds."""

    # How an adapter hands over what arrived. Answer the platform only once the event is durable:
    # ``dispatch`` processes it in one transaction (durable when it returns ``recorded``);
    # ``receive`` stores it with one insert and processes it in the background (``enrich`` first);
    # ``store`` only stores it, for a caller that then dispatches it itself (card clicks).
    dispatch: Dispatch
    clock: Clock
    leases: Leases
    max_body_bytes: int = 1_048_576
    public_url: str = ""
    instance_id: str = "local"
    locale: str = "zh"  # for the few texts an adapter shows itself (card toasts)
    accept: Hold | None = None
    hold: Hold | None = None

    async def receive(self, event: InboundEvent) -> None:
        """Store ``event`` durably, then process it in the background; raises :class:`NotStored`."""
        if self.accept is None:  # a kernel without an inbox (adapter tests): process it now
            if not (await self.dispatch(event)).recorded:
                raise NotStored(event.dedupe_key)
            return
        await self.accept(event)

    async def store(self, event: InboundEvent) -> bool:
        """Store ``event`` durably, unprocessed; False when it was stored before."""
        return True if self.hold is None else await self.hold(event)


class NotStored(Exception):
    """An event could not be made durable: do not tell the platform it was received."""


class AdapterModule(Protocol):
    """Each ``hubao.adapters.<platform>`` package exposes its settings model and a factory."""

    Settings: type[Section]

    def create(self, settings: Any, context: AdapterContext) -> Adapter: ...
