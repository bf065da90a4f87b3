"""/help, generated from the same command table the parser uses.

``/help`` lists the everyday commands only (those declared ``everyday``, in declaration order:
the reminder commands come first), short enough for a phone; ``/help all`` lists every
command, ``/help admin`` the ``/admin …`` ones, ``/help <command>`` one command's usage, an
example and who may use it.
"""

from __future__ import annotations

from typing import Any

from hubao.bot.i18n import Catalog
from hubao.bot.router import CommandContext, CommandSpec, Role, Router, describe_roles

ALL_WORDS = ("all", "全部")
ADMIN_WORDS = ("admin", "管理")
TOPICS = {"责任": "help.topic_liability", "liability": "help.topic_liability"}  # /help 责任: the pledge's rule


def router(table: Router) -> Router:
    """``table`` is the full router, so help always matches what is parsed."""
    r = Router()

    @r.command(
        "help",
        aliases=["帮助"],
        roles=Role.ANYONE,
        usage="/help [command]",
        summary="help.help",
        needs_group=False,
    )
    async def show_help(ctx: CommandContext[Any]) -> None:
        t = ctx.t
        words = [w.lower() for w in ctx.args.words]
        if not words:
            ctx.reply(everyday_help(table, t))
        elif len(words) == 1 and words[0] in ALL_WORDS:
            ctx.reply("\n".join([t("help.all_title"), *(_usage_line(spec, t) for spec in table)]))
        elif len(words) == 1 and words[0] in ADMIN_WORDS:
            lines = [_usage_line(spec, t) for spec in table if is_admin_command(spec)]
            ctx.reply("\n".join([t("help.admin_title"), *lines]))
        else:
            spec = table.get(" ".join(words[:2])) or table.get(words[0])
            if spec is None and words[0] in TOPICS:
                ctx.reply(t(TOPICS[words[0]]))
                return
            if spec is None:
                ctx.reply(t("help.unknown", word=ctx.args.words[0][:32]) + "\n" + t("help.more"))
                return
            ctx.reply(command_help(spec, t))

    return r


def everyday_help(table: Router, t: Catalog) -> str:
    """The short help: a title, one line per everyday command, where to find the rest."""
    lines = [t("help.title")]
    for spec in table:
        if spec.everyday:
            aliases = "".join(f" /{a}" for a in spec.aliases)
            lines.append(f"/{spec.name}{aliases} — {t(spec.summary)}")
    lines.append(t("help.more"))
    return "\n".join(lines)


def command_help(spec: CommandSpec, t: Catalog) -> str:
    aliases = " ".join(f"/{a}" for a in spec.aliases) or "-"
    who = describe_roles(spec.roles if Role.ANYONE in spec.roles else spec.roles | Role.ADMIN, t)
    return t("help.detail", usage=spec.usage, summary=t(spec.summary), example=example_of(spec, t), aliases=aliases,
             roles=who)  # fmt: skip


def is_admin_command(spec: CommandSpec) -> bool:
    return spec.name.split()[0] == "admin"


def example_of(spec: CommandSpec, t: Catalog) -> str:
    """The catalogue's example for the command; else its usage with the optional parts left out."""
    key = f"example.{spec.name}"
    if t.has(key):
        return t(key)
    return " ".join(word for word in spec.usage.split() if not word.startswith("["))


def _usage_line(spec: CommandSpec, t: Catalog) -> str:
    aliases = "".join(f" /{a}" for a in spec.aliases)
    return f"{spec.usage} — {t(spec.summary)}{' (' + aliases.strip() + ')' if aliases else ''}"
