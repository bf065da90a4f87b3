"""Who may run what: every command × every role × this group / another group / an unregistered chat.

The command list comes from the router table itself, so a new command without a row in
``EXPECTED`` fails here. Each row is the SPEC's "who may" column and a sample invocation
that parses, so the case reaches the role check. Admins may do everything everywhere; a
role held in another group counts for nothing here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.adapters.console import ConsoleAdapter, Said
from hubao.app import App, build_router, read_config
from hubao.bot.events import User
from hubao.bot.i18n import Catalog
from hubao.storage import records, repo
from hubao.storage.models import BotAdmin, Group, Risk
from hubao.storage.tx import Tx

ANYONE, MEMBER, OWNER, PARTNER, REPORTER, LEADER, ADMIN = (
    "anyone", "member", "owner", "partner", "reporter", "leader", "admin"
)  # fmt: skip
RISK_ROLES = (MEMBER, OWNER, PARTNER, REPORTER, LEADER)  # people of a group, each a member
ACTORS = (*RISK_ROLES, ADMIN, "stranger")
MEMBERS_ONLY = {MEMBER}

# command → (who may, per SPEC §3; a sample that parses). Admins pass everything anyway.
EXPECTED: dict[str, tuple[set[str], str]] = {
    "risk": (MEMBERS_ONLY, "/risk 样例风险"),
    "urgent": (MEMBERS_ONLY, "/urgent 样例紧急"),
    "ack": ({OWNER, PARTNER, LEADER}, "/ack #1"),
    "resolve": ({OWNER, REPORTER, LEADER, ADMIN}, "/resolve #1 好了"),
    "reopen": ({REPORTER, LEADER, ADMIN}, "/reopen #1 再看看"),
    "assign": ({OWNER, LEADER, ADMIN}, "/assign #1 @member_a"),
    "note": (MEMBERS_ONLY, "/note #1 备注"),
    "snooze": ({OWNER, LEADER}, "/snooze #1 1h"),
    "list": (MEMBERS_ONLY, "/list"),
    "show": (MEMBERS_ONLY, "/show #1"),
    "meeting": (MEMBERS_ONLY, "/meeting 怎么用"),
    "meeting start": ({LEADER}, "/meeting start 周会"),
    "meeting note": (MEMBERS_ONLY, "/meeting note 记录"),
    "meeting decision": (MEMBERS_ONLY, "/meeting decision 决议"),
    "meeting action": (MEMBERS_ONLY, "/meeting action 待办 @member_a"),
    "meeting end": ({LEADER}, "/meeting end"),
    "duty": (MEMBERS_ONLY, "/duty"),
    "duty set": ({LEADER}, "/duty set @member_a @reporter_a"),
    "duty swap": ({LEADER}, "/duty swap @member_a @reporter_a"),
    "duty off": ({LEADER}, "/duty off"),
    "request": (MEMBERS_ONLY, "/request 另一组 请协助盘点"),
    "admin requests": ({ADMIN}, "/admin requests deny 另一组"),
    "me notify": (MEMBERS_ONLY, "/me notify off"),
    "summary": (MEMBERS_ONLY, "/summary"),
    "stats": (MEMBERS_ONLY, "/stats"),
    "points": (MEMBERS_ONLY, "/points"),
    "points why": (MEMBERS_ONLY, "/points why @member_a"),
    "incident": (MEMBERS_ONLY, "/incident 怎么用"),
    "incident start": ({LEADER}, "/incident start 机房断电"),
    # SPEC lists "leader, admin" for /incident; members answer the bot's progress prompts.
    "incident update": (MEMBERS_ONLY, "/incident update 进展"),
    "incident end": ({LEADER}, "/incident end 恢复"),
    "help": ({ANYONE}, "/help"),
    "admin": ({ANYONE}, "/admin"),
    "admin setup": ({ADMIN}, "/admin setup 新组"),
    "admin leader": ({LEADER}, "/admin leader @member_a"),
    "admin member": ({LEADER}, "/admin member add @member_a"),
    "admin pair": ({LEADER}, "/admin pair @member_a @reporter_a"),
    "admin unpair": ({LEADER}, "/admin unpair @member_a"),
    "admin policy": ({ADMIN}, "/admin policy high respond=30m"),
    "admin calendar": ({ADMIN}, "/admin calendar always"),
    "admin escalate-to": ({ADMIN}, "/admin escalate-to oc_boss"),
    "admin digest": ({LEADER}, "/admin digest fri 17:00"),
    "admin admins": ({ADMIN}, "/admin admins add @member_a"),
    "admin show": ({ADMIN}, "/admin show"),
    "admin token": ({ADMIN}, "/admin token"),
    "admin export": ({ADMIN}, "/admin export"),
    "assess": ({OWNER, REPORTER, PARTNER, LEADER}, "/assess #1 P3 I4"),
    "board web": (MEMBERS_ONLY, "/board web"),
    "admin web": ({LEADER}, "/admin web revoke"),
    "register": (MEMBERS_ONLY, "/register"),
    "register add": ({LEADER}, "/register add 机房断电 触发:UPS 告警 应对:切换备用机房"),
    "register edit": ({LEADER}, "/register edit R1 !高"),
    "register remove": ({LEADER}, "/register remove R1"),
    "register trigger": (MEMBERS_ONLY, "/register trigger R1"),
    "goal": (MEMBERS_ONLY, "/goal"),
    "goal list": (MEMBERS_ONLY, "/goal list"),
    "goal add": ({LEADER}, "/goal add 季度目标 due:2027-03-31"),
    "goal done": (MEMBERS_ONLY, "/goal done G1"),
    "goal drop": ({LEADER}, "/goal drop G1"),
    "admin pledge": ({LEADER}, "/admin pledge 发现风险及时提醒，知情不报者担责"),
    "pledge": (MEMBERS_ONLY, "/pledge"),
    "pledge confirm": (MEMBERS_ONLY, "/pledge confirm"),
    "incident drill": ({LEADER}, "/incident drill 主库宕机"),
    "incident finding": (MEMBERS_ONLY, "/incident finding 切换脚本缺少权限"),
    "survey": (MEMBERS_ONLY, "/survey"),
    "survey start": ({LEADER}, "/survey start 季度评估"),
    "survey answer": (MEMBERS_ONLY, "/survey answer 4 5 3 很好"),
    "survey end": ({LEADER}, "/survey end"),
    "summary quarter": (MEMBERS_ONLY, "/summary quarter last"),
}

TABLE = build_router(read_config(None, environ={}))
REFUSED = Catalog("zh")("error.refused", who="").split("{", 1)[0][:4]  # "无权执行"
NOT_SETUP = Catalog("zh")("error.not_setup")
INTERNAL = Catalog("zh")("error.internal")


def test_every_command_of_the_table_has_a_row() -> None:
    missing = sorted(spec.name for spec in TABLE if spec.name not in EXPECTED)
    assert not missing, f"add a row to EXPECTED for {missing} (who may, and a sample that parses)"


def _uid(name: str) -> str:
    return f"console:{name}"


async def _arrange(session: AsyncSession, groups: dict[str, Group]) -> None:
    """Put every role back where the matrix expects it (an allowed command may have moved it)."""
    await session.exec(delete(BotAdmin))  # type: ignore[call-overload]
    for suffix, group in groups.items():
        gid = group.id or 0
        row = await session.get(Group, gid)
        assert row is not None
        row.leader_id = _uid(f"leader_{suffix}")
        session.add(row)
        wanted = {_uid(f"{role}_{suffix}") for role in RISK_ROLES}
        for member in await repo.members(session, gid, active_only=False):
            member.active = member.user_id in wanted
            member.partner_id = None
            session.add(member)
        now = group.created_at
        for user_id in wanted:
            await repo.upsert_member(session, gid, user_id, user_id.split(":")[1], now, reactivate=True)
        owner = await repo.get_member(session, gid, _uid(f"owner_{suffix}"))
        partner = await repo.get_member(session, gid, _uid(f"partner_{suffix}"))
        assert owner is not None and partner is not None
        owner.partner_id, partner.partner_id = partner.user_id, owner.user_id
        session.add_all([owner, partner])
        risk = await repo.get_risk(session, gid, 1)
        if risk is None:
            number = await records.take_next_number(await Tx.over(session), gid)
            risk = Risk(group_id=gid, number=number, content="样例", reporter_id="", owner_id="",
                        created_at=now, respond_by=now, resolve_by=now)  # fmt: skip
        risk.owner_id, risk.reporter_id = _uid(f"owner_{suffix}"), _uid(f"reporter_{suffix}")
        session.add(risk)


def _expected(needs_group: bool, allowed: set[str], actor: str, scope: str) -> str:
    if scope == "unregistered chat" and needs_group:
        return "not set up"
    if ANYONE in allowed or actor == ADMIN:
        return "allowed"
    if scope != "this group":
        return "refused"  # a role in another group counts for nothing here
    # owner, partner, reporter and leader are members too
    return "allowed" if actor in allowed or (MEMBER in allowed and actor in RISK_ROLES) else "refused"


async def test_role_matrix(make_app: Any) -> None:
    printed: list[str] = []
    console = ConsoleAdapter(printed.append)
    app: App = await make_app(
        adapters={"console": console}, **{"bot.auto_join": False, "bot.admins": [_uid("admin")]}
    )
    groups = {
        suffix: await app.register_group("console", suffix, f"组{suffix}", leader=User(_uid(f"leader_{suffix}")))
        for suffix in ("a", "b")
    }
    dirty = True
    problems: list[str] = []
    cases = 0
    for spec in TABLE:
        allowed_roles, sample = EXPECTED[spec.name]
        for scope in ("this group", "another group", "unregistered chat"):
            actors = ACTORS if scope != "unregistered chat" else (ADMIN, "stranger")
            for actor in actors:
                if dirty:
                    async with app.db.transaction() as session:
                        await _arrange(session, groups)
                speaker = actor if actor in (ADMIN, "stranger") else f"{actor}_{'a' if scope == 'this group' else 'b'}"
                chat = f"nowhere-{cases}" if scope == "unregistered chat" else "a"  # setup may register it
                event = console.event(Said(speaker, sample), app.clock.now(), chat)
                result = await app.dispatch(event, inline_replies=True)
                texts = [m.text for m in result.replies]
                cases += 1
                assert texts, f"{spec.name} by {actor} in {scope}: no reply"
                refused = texts[0].startswith(REFUSED)
                dirty = not refused
                expected = _expected(spec.needs_group, allowed_roles, actor, scope)
                got = "not set up" if texts[0] == NOT_SETUP else "refused" if refused else "allowed"
                if INTERNAL in texts:
                    problems.append(f"{spec.name} by {actor} in {scope}: internal error")
                elif got != expected:
                    problems.append(f"{sample!r} by {actor} in {scope}: expected {expected}, got {texts[0]!r}")
                elif got == "refused" and spec.name in ("admin policy", "admin leader"):
                    assert "管理员" in texts[0]  # a refusal says who may
    assert cases >= len(EXPECTED) * 16
    assert not problems, "\n".join(problems)
