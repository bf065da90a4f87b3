"""/help, generated from the same command table the parser uses."""

from __future__ import annotations

from typing import Any

from hubao.bot.router import CommandContext, Role, Router, describe_roles


def router(table: Router) -> Router:
    """``table`` is the full router, so help always matches what is parsed."""
    r = Router()

    @r.command(
        "help", aliases=["帮助"], roles=Role.ANYONE, usage="/help [command]", summary="help.help", needs_group=False
    )
    async def show_help(ctx: CommandContext[Any]) -> None:
        t = ctx.t
        if ctx.args.words:
            word = ctx.args.words[0]
            spec = table.get(" ".join(ctx.args.words[:2])) or table.get(word)
            if spec is None:
                ctx.reply(t("help.unknown", word=word[:32]) + "\n" + t("help.title"))
                return
            aliases = " ".join(f"/{a}" for a in spec.aliases) or "-"
            ctx.reply(
                t(
                    "help.detail",
                    usage=spec.usage,
                    summary=t(spec.summary),
                    aliases=aliases,
                    roles=describe_roles(spec.roles if Role.ANYONE in spec.roles else spec.roles | Role.ADMIN, t),
                )
            )
            return
        lines = [t("help.title")]
        for spec in table:
            aliases = "".join(f" /{a}" for a in spec.aliases)
            lines.append(f"{spec.usage} — {t(spec.summary)}{' (' + aliases.strip() + ')' if aliases else ''}")
        ctx.reply("\n".join(lines))

    return r
