"""Commands declared once: the parser, ``/help`` and the role check all read the same table.

A command is declared with :meth:`Router.command`; its ``usage`` string (``/resolve <#n>
[note]``) says which argument kinds it takes and which are required: ``<…>`` is required,
``[…]`` optional; ``#n`` is a risk number, ``@…`` a person, ``!…`` a level, ``#tag`` a
tag, ``due:`` a deadline, anything else free words.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum, IntFlag, StrEnum
from typing import Any, Generic, TypeVar

from hubao.bot.clock import Clock
from hubao.bot.events import Format as Format
from hubao.bot.events import InboundEvent, Lane, OutboundMessage, User
from hubao.bot.i18n import Catalog
from hubao.bot.sanitize import clean_token, clean_word
from hubao.bot.timeparse import looks_like_deadline

PREFIXES = ("/", "／")
MAX_ARGS = 64


class Role(IntFlag):
    """Who someone is relative to a group and, where a command names one, a risk."""

    NONE = 0
    ANYONE = 1  # even outside a registered group (/help)
    MEMBER = 2
    OWNER = 4
    PARTNER = 8  # partner of the risk's owner
    REPORTER = 16
    LEADER = 32
    ADMIN = 64


ROLE_NAMES = {
    Role.ANYONE: "anyone",
    Role.MEMBER: "member",
    Role.OWNER: "owner",
    Role.PARTNER: "partner",
    Role.REPORTER: "reporter",
    Role.LEADER: "leader",
    Role.ADMIN: "admin",
}


class Level(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


LEVEL_WORDS = {
    "高": Level.HIGH, "high": Level.HIGH, "h": Level.HIGH,
    "中": Level.MEDIUM, "medium": Level.MEDIUM, "mid": Level.MEDIUM, "m": Level.MEDIUM,
    "低": Level.LOW, "low": Level.LOW, "l": Level.LOW,
}  # fmt: skip


class ArgKind(Enum):
    RISK = "risk"
    USER = "user"
    LEVEL = "level"
    TAG = "tag"
    DUE = "due"
    WORDS = "words"


class UsageError(Exception):
    """Bad arguments: the reply shows ``detail`` and the command's usage."""

    def __init__(self, detail: str, usage: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.usage = usage  # set by the router to the usage of the command it was parsing


class Refused(Exception):
    """The actor may not do this; the reply names who may."""

    def __init__(self, allowed: Role) -> None:
        super().__init__(str(allowed))
        self.allowed = allowed


@dataclass(frozen=True, slots=True)
class Args:
    risk: int | None = None
    users: tuple[User, ...] = ()
    level: Level | None = None
    tags: tuple[str, ...] = ()
    due: str | None = None
    words: tuple[str, ...] = ()
    # @names that matched no mention in the event; resolved against the group's members.
    unresolved: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return " ".join(self.words)


S = TypeVar("S")


@dataclass
class CommandContext(Generic[S]):
    """Everything a handler sees: the neutral event, its group, the store's transaction, the clock, replies."""

    event: InboundEvent
    spec: CommandSpec
    args: Args
    store: S  # the backend's transaction for this command
    clock: Clock
    t: Catalog
    group: Any = None  # the group record; None only for commands that need none
    roles: Role = Role.NONE
    out: list[OutboundMessage] = field(default_factory=list)

    def reply(
        self,
        text: str,
        *,
        mentions: Iterable[User] = (),
        mention_all: bool = False,
        lane: Lane = Lane.REPLY,
        **extra: Any,
    ) -> OutboundMessage:
        message = OutboundMessage(
            platform=self.event.platform,
            chat_id=self.event.chat_id,
            text=text,
            mentions=tuple(dict.fromkeys(mentions)),
            mention_all=mention_all,
            lane=lane,
            reply_handle=self.event.reply_handle,
            **extra,
        )
        self.out.append(message)
        return message


Handler = Callable[[CommandContext[Any]], Awaitable[None]]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    aliases: tuple[str, ...]
    roles: Role
    usage: str
    summary: str  # catalogue key
    handler: Handler
    needs_group: bool = True
    accepts: frozenset[ArgKind] = frozenset()
    requires: frozenset[ArgKind] = frozenset()
    max_users: int = 0  # how many @people the usage names; -1 = any number ("<@user…>")
    everyday: bool = False  # listed by the short /help (the rest by /help all, /help admin)

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True, slots=True)
class Invocation:
    spec: CommandSpec
    args: Args


def is_command(text: str) -> bool:
    return text.lstrip().startswith(PREFIXES)


def _usage_kinds(usage: str) -> tuple[frozenset[ArgKind], frozenset[ArgKind]]:
    accepts: set[ArgKind] = set()
    requires: set[ArgKind] = set()
    for required, body in re.findall(r"(<|\[)([^>\]]*)[>\]]", usage):
        kind = _kind_of_placeholder(body)
        accepts.add(kind)
        if required == "<":
            requires.add(kind)
    return frozenset(accepts), frozenset(requires)


def _max_users(usage: str) -> int:
    people = [body for body in re.findall(r"[<\[](@[^>\]]*)[>\]]", usage)]
    return -1 if any("…" in body or "..." in body for body in people) else len(people)


def _kind_of_placeholder(body: str) -> ArgKind:
    body = body.strip()
    if body.startswith("#n"):
        return ArgKind.RISK
    if body.startswith("@"):
        return ArgKind.USER
    if body.startswith("!"):
        return ArgKind.LEVEL
    if body.startswith("#"):
        return ArgKind.TAG
    if body.startswith("due:"):
        return ArgKind.DUE
    return ArgKind.WORDS


class Router:
    """A table of commands; routers per feature are merged with :meth:`include`."""

    def __init__(self) -> None:
        self._specs: dict[str, CommandSpec] = {}
        self._by_word: dict[str, CommandSpec] = {}
        # What answers words to the bot that are no command, and the bot joining a chat.
        self.addressed: CommandSpec | None = None

    def command(
        self,
        name: str,
        *,
        aliases: Iterable[str] = (),
        roles: Role,
        usage: str,
        summary: str,
        needs_group: bool = True,
        everyday: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            accepts, requires = _usage_kinds(usage)
            max_users = _max_users(usage)
            self._add(
                CommandSpec(
                    name=name,
                    aliases=tuple(aliases),
                    roles=roles,
                    usage=usage,
                    summary=summary,
                    handler=handler,
                    needs_group=needs_group,
                    accepts=accepts,
                    requires=requires,
                    max_users=max_users,
                    everyday=everyday,
                )
            )
            return handler

        return register

    def include(self, other: Router) -> None:
        for spec in other._specs.values():
            self._add(spec)
        if other.addressed is not None:
            self.include_addressed(other.addressed)

    def on_addressed(self, handler: Handler) -> Handler:
        """Declare the handler for a message to the bot that is no command (``event.addressed``)
        and for the bot being added to a chat (``event.kind == "joined"``); it runs for anyone,
        in registered chats and others alike, with no arguments parsed."""
        spec = CommandSpec(name="", aliases=(), roles=Role.ANYONE, usage="", summary="help.help", handler=handler,
                           needs_group=False)  # fmt: skip
        self.include_addressed(spec)
        return handler

    def include_addressed(self, spec: CommandSpec) -> None:
        if self.addressed is not None:
            raise ValueError("the answer to non-command messages is declared twice")
        self.addressed = spec

    def _add(self, spec: CommandSpec) -> None:
        for word in spec.words:
            key = word.lower()
            if key in self._by_word:
                raise ValueError(f"command word {word!r} declared twice")
            self._by_word[key] = spec
        self._specs[spec.name] = spec

    def __iter__(self) -> Iterator[CommandSpec]:
        return iter(self._specs.values())

    def get(self, name: str) -> CommandSpec | None:
        return self._by_word.get(name.lower().lstrip("/／"))

    def parse(self, event: InboundEvent) -> Invocation:
        """Find the command and its arguments; raises :class:`UnknownCommand` or UsageError."""
        text = event.text.strip()
        if not text.startswith(PREFIXES):
            raise UnknownCommand("")
        tokens = text[1:].split()
        if not tokens:
            raise UnknownCommand("")
        spec = None
        # Two-word commands ("meeting note", "admin setup") win over their first word.
        if len(tokens) > 1:
            spec = self._by_word.get(f"{tokens[0]} {tokens[1]}".lower())
            if spec is not None:
                tokens = tokens[2:]
        if spec is None:
            spec = self._by_word.get(tokens[0].lower())
            tokens = tokens[1:]
        if spec is None:
            raise UnknownCommand(clean_word(text.split()[0])[:32])
        try:
            return Invocation(spec, parse_args(spec, tokens, event))
        except UsageError as exc:
            exc.usage = spec.usage
            raise


class UnknownCommand(Exception):
    def __init__(self, word: str) -> None:
        super().__init__(word)
        self.word = word


_RISK = re.compile(r"^[#＃](\d{1,9})$")
_TAG = re.compile(r"^[#＃]([^\s#＃]{1,32})$")
_LEVEL = re.compile(r"^[!！](\S+)$")
_DUE = re.compile(r"^(?:due|截止)[:：](.+)$", re.IGNORECASE)


def parse_args(spec: CommandSpec, tokens: list[str], event: InboundEvent) -> Args:
    if len(tokens) > MAX_ARGS * 8:
        raise UsageError("too many words")
    accepts = spec.accepts
    by_token = {m.token: m.user for m in event.mentions}
    risk: int | None = None
    users: list[User] = []
    unresolved: list[str] = []
    level: Level | None = None
    tags: list[str] = []
    due: str | None = None
    words: list[str] = []
    due_open = False  # the words right after due: continue it while they read as one deadline
    for raw in tokens:
        token = clean_token(raw)  # invisible characters never reach a handler
        if not token:
            continue
        if due_open and due is not None and looks_like_deadline(f"{due} {token}"):
            due = clean_word(f"{due} {token}")  # due:next monday, due:dec 5 15:00
            continue
        due_open = False
        if ArgKind.RISK in accepts and risk is None and (m := _RISK.match(token)):
            risk = int(m.group(1))
            continue
        digits = token.isascii() and token.isdigit()  # "²".isdigit() is true, int("²") fails
        if ArgKind.RISK in accepts and risk is None and digits and not words and len(token) < 10:
            risk = int(token)  # "/ack 3" means "/ack #3"
            continue
        if ArgKind.USER in accepts and token.startswith(("@", "＠")) and len(token) > 1:
            if spec.max_users >= 0 and len(users) + len(unresolved) >= spec.max_users:
                # One person too many: in free text it is just a name, elsewhere a mistake.
                if ArgKind.WORDS not in accepts:
                    raise UsageError(clean_word(token)[:20])
                known = by_token.get(raw) or by_token.get(token)
                words.append(clean_word(f"@{known.display}" if known else token))
                continue
            if raw in by_token or token in by_token:
                users.append(by_token.get(raw) or by_token[token])
            else:
                unresolved.append(token[1:])
            continue
        if ArgKind.LEVEL in accepts and (m := _LEVEL.match(token)):
            word = m.group(1).lower()
            if word not in LEVEL_WORDS or level is not None:  # unknown, or a second level
                raise UsageError(clean_word(token)[:20])
            level = LEVEL_WORDS[word]
            continue
        if ArgKind.DUE in accepts and (m := _DUE.match(token)):
            due, due_open = clean_word(m.group(1)), True
            continue
        if ArgKind.TAG in accepts and (m := _TAG.match(token)) and not _RISK.match(token):
            tags.append(clean_word(m.group(1)))
            continue
        words.append(clean_word(token))
    if ArgKind.WORDS not in accepts and words:
        raise UsageError(" ".join(words)[:40])
    args = Args(
        risk=risk,
        users=tuple(users),
        level=level,
        tags=tuple(dict.fromkeys(tags)),
        due=due,
        words=tuple(words),
        unresolved=tuple(unresolved),
    )
    for kind in spec.requires:
        if kind is ArgKind.USER:
            continue  # checked after @names are resolved against the group
        if not _has(args, kind):
            raise UsageError("")
    return args


def _has(args: Args, kind: ArgKind) -> bool:
    return {
        ArgKind.RISK: args.risk is not None,
        ArgKind.USER: bool(args.users or args.unresolved),
        ArgKind.LEVEL: args.level is not None,
        ArgKind.TAG: bool(args.tags),
        ArgKind.DUE: args.due is not None,
        ArgKind.WORDS: bool(args.words),
    }[kind]


def describe_roles(roles: Role, t: Catalog) -> str:
    names = [t(f"role.{name}") for flag, name in ROLE_NAMES.items() if flag in roles]
    return t("role.join").join(names)
