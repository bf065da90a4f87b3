"""The one entry point every transport calls: ``dispatch(event)``.

dedupe → group and roles → router → handler, all inside one transaction that also
writes the replies to the outbox. The storage-facing steps come from a :class:`Backend`
that the composition root supplies, so the kernel knows no SQL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from hubao.bot.adapter import DispatchResult
from hubao.bot.clock import Clock
from hubao.bot.events import InboundEvent, OutboundMessage, User
from hubao.bot.i18n import Catalog
from hubao.bot.router import (
    ArgKind,
    Args,
    CommandContext,
    Refused,
    Role,
    Router,
    UnknownCommand,
    UsageError,
    describe_roles,
    is_command,
)
from hubao.bot.sanitize import clean_event

log = logging.getLogger("hubao.dispatch")


class RiskNotFound(Exception):
    """The command names a risk number that this group does not have."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number


class Backend(Protocol):
    """Storage-facing steps of dispatch, implemented outside the kernel."""

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...

    async def first_delivery(self, session: Any, key: str) -> bool:
        """Record ``key`` as processed (taking over a held row); False if it was processed before."""
        ...

    async def hold_delivery(self, session: Any, key: str, event: str) -> bool:
        """Store ``key`` unprocessed with its event (JSON); False if it was stored before."""
        ...

    async def held_deliveries(self, session: Any, stored_before: datetime, limit: int) -> list[tuple[str, str]]:
        """(key, event JSON) of deliveries stored but not processed, oldest first."""
        ...

    async def load_group(self, session: Any, event: InboundEvent) -> Any | None: ...

    def locale_of(self, group: Any | None) -> str: ...

    async def enroll(self, session: Any, group: Any, user: User) -> None: ...

    async def resolve_names(self, session: Any, group: Any, names: Sequence[str]) -> list[User]: ...

    async def roles_of(self, session: Any, group: Any | None, user: User, risk_number: int | None) -> Role:
        """The actor's roles; raises :class:`RiskNotFound` for a number the group lacks."""
        ...

    async def enqueue(self, session: Any, messages: Sequence[OutboundMessage], key_prefix: str) -> None: ...


class Dispatcher:
    def __init__(self, router: Router, backend: Backend, clock: Clock) -> None:
        self.router = router
        self.backend = backend
        self.clock = clock

    async def __call__(self, event: InboundEvent, *, inline_replies: bool = False) -> DispatchResult:
        """Process ``event`` in one transaction: its de-duplication mark, its effects and replies.

        Once this returns with ``recorded`` set, the event is durable and a platform may be told
        "received"; a held event (see :meth:`hold`) is taken over here exactly once.
        """
        try:
            async with self.backend.transaction() as session:
                if not await self.backend.first_delivery(session, event.dedupe_key):
                    return DispatchResult(duplicate=True)
                group = await self.backend.load_group(session, event)
                t = Catalog(self.backend.locale_of(group))
                replies = await self._handle(session, event, group, t)
                if replies and not inline_replies:
                    await self.backend.enqueue(session, replies, f"reply:{event.dedupe_key}")
        except Exception:
            log.exception("dispatch failed for %s", event.dedupe_key)
            return await self._apologise(event, inline_replies)
        return DispatchResult(replies=tuple(replies) if inline_replies else (), handled=bool(replies))

    async def hold(self, event: InboundEvent) -> bool:
        """Make ``event`` durable with one insert, unprocessed; False when it was stored before.

        For transports that must answer before processing can finish (or have nothing to
        answer): what is held is processed by :meth:`__call__` later, or after a crash by
        whoever calls :meth:`held` (start-up and the sweep).
        """
        async with self.backend.transaction() as session:
            return await self.backend.hold_delivery(session, event.dedupe_key, json.dumps(event.to_json()))

    async def held(self, stored_before: datetime, limit: int = 200) -> list[InboundEvent]:
        """Events held before ``stored_before`` and not processed yet, oldest first."""
        async with self.backend.transaction() as session:
            rows = await self.backend.held_deliveries(session, stored_before, limit)
        events: list[InboundEvent] = []
        for key, raw in rows:
            try:
                events.append(InboundEvent.from_json(json.loads(raw)))
            except (ValueError, KeyError, TypeError, IndexError):
                log.error("held delivery %s cannot be read back; marked done", key)
                async with self.backend.transaction() as session:
                    await self.backend.first_delivery(session, key)
        return events

    async def _handle(self, session: Any, event: InboundEvent, group: Any | None, t: Catalog) -> list[OutboundMessage]:
        event = clean_event(event)  # display names are shown in cards: same fence as text
        if group is not None:
            await self.backend.enroll(session, group, event.sender)  # whoever speaks in the group joins it
        if not is_command(event.text):
            return await self._spoken_to(session, event, group, t)
        ctx_out: list[OutboundMessage] = []

        def say(text: str) -> list[OutboundMessage]:
            ctx_out.append(_reply(event, text))
            return ctx_out

        try:
            invocation = self.router.parse(event)
        except UnknownCommand as exc:
            return say(t("error.unknown_command", word=exc.word or "/", help="/help"))
        except UsageError as exc:
            return say(_usage_text(t, exc.usage or "/help", exc.detail))
        spec, args = invocation.spec, invocation.args

        if group is None and spec.needs_group:
            return say(t("error.not_setup"))
        if args.unresolved:
            found = await self.backend.resolve_names(session, group, args.unresolved)
            if len(found) != len(args.unresolved):
                known = {u.name for u in found}
                missing = next(n for n in args.unresolved if n not in known)
                return say(t("error.unknown_user", name=missing))
            args = replace(args, users=args.users + tuple(found), unresolved=())
        if ArgKind.USER in spec.requires and not args.users:
            return say(_usage_text(t, spec.usage, ""))

        try:
            roles = await self.backend.roles_of(session, group, event.sender, args.risk)
        except RiskNotFound as exc:
            return say(t("error.no_such_risk", number=exc.number))
        # The one role check. Admins may do anything anywhere; LEADER etc. are of this group only.
        if not roles & (spec.roles | Role.ADMIN) and Role.ANYONE not in spec.roles:
            return say(t("error.refused", who=describe_roles(spec.roles | Role.ADMIN, t)))

        ctx: CommandContext[Any] = CommandContext(
            event=event, spec=spec, args=args, store=session, clock=self.clock, t=t, group=group, roles=roles
        )
        try:
            await spec.handler(ctx)
        except UsageError as exc:
            return say(_usage_text(t, spec.usage, exc.detail))
        except Refused as exc:
            return say(t("error.refused", who=describe_roles(exc.allowed, t)))
        return ctx.out

    async def _spoken_to(
        self, session: Any, event: InboundEvent, group: Any | None, t: Catalog
    ) -> list[OutboundMessage]:
        """Words to the bot that are no command, or the bot joining a chat: answered, never silence.
        Chatter near the bot (not addressed to it) stays unanswered."""
        spec = self.router.addressed
        if spec is None or event.button is not None or not (event.addressed or event.kind == "joined"):
            return []
        ctx: CommandContext[Any] = CommandContext(
            event=event, spec=spec, args=Args(), store=session, clock=self.clock, t=t, group=group
        )
        await spec.handler(ctx)
        return ctx.out

    async def _apologise(self, event: InboundEvent, inline_replies: bool) -> DispatchResult:
        """An unexpected failure: roll back, tell the chat briefly, never show a trace.

        The delivery is marked processed with the apology, so a retry (the platform's, or the
        sweep's for a held event) does not run into the same failure again. When even that
        cannot be written, nothing is recorded and the caller must not say "received".
        """
        command = is_command(event.text)
        reply = _reply(event, Catalog("zh")("error.internal"))
        try:
            async with self.backend.transaction() as session:
                if not await self.backend.first_delivery(session, event.dedupe_key):
                    return DispatchResult(duplicate=True)  # processed meanwhile by another worker
                if command and not inline_replies:
                    await self.backend.enqueue(session, [reply], f"error:{event.dedupe_key}")
        except Exception:
            log.exception("could not record the failed delivery %s", event.dedupe_key)
            return DispatchResult(handled=False, recorded=False)
        if inline_replies and command:
            return DispatchResult(replies=(reply,))
        return DispatchResult(handled=False)


def _reply(event: InboundEvent, text: str) -> OutboundMessage:
    return OutboundMessage(platform=event.platform, chat_id=event.chat_id, text=text, reply_handle=event.reply_handle)


def _usage_text(t: Catalog, usage: str, detail: str) -> str:
    if detail:
        return t("error.bad_args_detail", detail=detail, usage=usage)
    return t("error.bad_args", usage=usage)
