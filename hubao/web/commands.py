"""Chat commands of the web board: ``/board web`` (``/看板 网页``) answers with a signed link to
the group's board; ``/admin web revoke`` turns away every link and session of the group."""

from __future__ import annotations

from hubao.bot.config import Config
from hubao.bot.router import CommandContext, Role, Router, UsageError
from hubao.handlers.common import audit, group_id, group_zone, local_time
from hubao.storage import web as store
from hubao.storage.tx import Tx
from hubao.web import links

Ctx = CommandContext[Tx]
REVOKE_WORDS = ("revoke", "吊销", "撤销")


def router(config: Config) -> Router:
    r = Router()

    @r.command(
        "board web",
        aliases=["看板 网页", "看板 web", "list web"],
        roles=Role.MEMBER,
        usage="/board web",
        summary="help.board_web",
    )
    async def board_web(ctx: Ctx) -> None:
        if not links.enabled(config):
            ctx.reply(ctx.t("web.off"))
            return
        now = ctx.clock.now()
        grant = await links.new_grant(ctx.store, config, links.GROUP, group_id(ctx.group), now)
        # who was given a link, until when — never the link itself
        await audit(ctx, "web.link", {"expires": grant.expires, "generation": grant.generation})
        expires = local_time(now + config.web.link_ttl, group_zone(ctx.group, config))
        ctx.reply(ctx.t("web.link", url=links.link_url(config, grant), expires=expires))

    @r.command(
        "admin web",
        aliases=["管理 web", "管理 网页"],
        roles=Role.ADMIN | Role.LEADER,
        usage="/admin web <revoke>",
        summary="help.admin_web",
    )
    async def admin_web(ctx: Ctx) -> None:
        if ctx.args.text.lower() not in REVOKE_WORDS:
            raise UsageError(ctx.args.text[:20])
        gid = group_id(ctx.group)
        generation = await store.revoke(ctx.store, store.group_scope(gid), ctx.event.sender.id, ctx.clock.now())
        await audit(ctx, "admin.web.revoke", {"generation": generation})
        ctx.reply(ctx.t("web.revoked"))

    return r


async def web_link(config: Config, chat: str | None, *, org: bool = False, revoke: bool = False) -> int:
    """``hubao web-link``: print a link (or, with ``revoke``, invalidate the earlier ones); 2 on bad input."""
    import sys

    from hubao.bot.clock import SystemClock
    from hubao.storage.db import Database
    from hubao.storage.reports import find_group

    if not revoke and not links.enabled(config):
        print("hubao web-link: set [web] secret and [server] public_url first", file=sys.stderr)
        return 2
    now = SystemClock().now()
    db = Database(config.storage.url)
    try:
        async with db.transaction() as session:
            gid = 0
            if not org:
                group = await find_group(session, chat or "") or await store.group_by_chat_id(session, chat or "")
                if group is None or group.id is None:
                    print(f"hubao web-link: no group {chat!r} (use its chat id, platform:chat_id, id or name)",
                          file=sys.stderr)  # fmt: skip
                    return 2
                gid = group.id
            tx = await Tx.over(session)
            scope = store.ORG_SCOPE if org else store.group_scope(gid)
            if revoke:
                await store.revoke(tx, scope, "cli", now)
                print(f"revoked every web link of {scope}")
                return 0
            grant = await links.new_grant(tx, config, links.ORG if org else links.GROUP, gid, now)
    finally:
        await db.dispose()
    print(links.link_url(config, grant))
    return 0
