"""The 互保风险清单: the leader keeps it, members trigger entries into tracked risks with the agreed response."""

from __future__ import annotations

from typing import Any

from hubao.console import ConsoleSession
from hubao.storage.models import RegisterEntry, Risk, RiskEvent
from tests.handlers.console_text import rows


async def _group(console: ConsoleSession) -> None:
    for name in ("alice", "bob", "carol"):  # alice speaks first: the leader
        await console.say(name, "在")


async def test_the_leader_keeps_the_register_and_a_member_triggers_an_entry(console: ConsoleSession) -> None:
    await _group(console)
    (added,) = await console.say(
        "alice", "/register add 发布回滚失败 !高 触发:发布后错误率>1% 应对:立即回滚并通知值班 @bob"
    )
    assert added == (
        "bot: 已加入互保风险清单：\n  R1 [高] 发布回滚失败 · 负责人 bob\n    触发：发布后错误率>1%\n"
        "    应对：立即回滚并通知值班"
    )
    await console.say("alice", "/清单 添加 机房断电 触发:UPS 告警 应对:切换到备用机房")
    (listed,) = await console.say("carol", "/清单")
    assert listed.startswith("bot: 内测组 · 互保风险清单（2 条）") or "互保风险清单（2 条）" in listed
    assert "R2 [中] 机房断电 · 负责人 未指定" in listed

    (card,) = await console.say("carol", "/register trigger R1 订单服务 10:05 发布后报错")
    assert card.startswith("bot: @bob 已登记风险")
    assert "【清单 R1】发布回滚失败 订单服务 10:05 发布后报错" in card
    assert "\n  📋 清单 R1 约定应对：立即回滚并通知值班\n  [收到 /ack #1]" in card
    (risk,) = await rows(console, Risk)
    assert (risk.level, risk.owner_id, risk.reporter_id, risk.source) == (
        "high", "console:bob", "console:carol", "register"
    )  # fmt: skip
    (shown,) = await console.say("bob", f"/show #{risk.number}")
    assert "carol 由互保风险清单触发" in shown

    (edited,) = await console.say("alice", "/register edit R2 !高 应对:切换备用机房并电话通知机房值班 @carol")
    assert "R2 [高] 机房断电 · 负责人 carol" in edited and "应对：切换备用机房并电话通知机房值班" in edited
    assert await console.say("alice", "/register remove R2 已迁云") == ["bot: 已从清单删除 R2（机房断电）。"]
    (listed,) = await console.say("bob", "/register")
    assert "R2" not in listed and "R1 [高] 发布回滚失败" in listed
    kinds = [e.kind for e in await rows(console, RiskEvent) if e.kind.startswith("register.")]
    assert kinds == ["register.added", "register.added", "register.triggered", "register.edited", "register.removed"]


async def test_only_the_leader_edits_and_bad_input_is_explained(console: ConsoleSession) -> None:
    await _group(console)
    (refused,) = await console.say("bob", "/register add 数据泄露 触发:外发告警 应对:封禁账号")
    assert refused.startswith("bot: 无权执行")
    (missing,) = await console.say("alice", "/register add 数据泄露 触发:外发告警")
    assert "请写名称、触发:<条件> 和 应对:<措施>" in missing and "/register add <name>" in missing
    (twice,) = await console.say("alice", "/register add 数据泄露 触发:a 触发:b 应对:c")
    assert "写了两次" in twice
    (no_number,) = await console.say("bob", "/register trigger 数据泄露")
    assert "请写清单编号" in no_number
    (unknown,) = await console.say("bob", "/register trigger R9")
    assert "清单里没有 R9" in unknown
    (bad_level,) = await console.say("alice", "/register add 数据泄露 !超高 触发:a 应对:b")
    assert "用法" in bad_level or "超高" in bad_level
    await console.say("alice", "/register add 数据泄露 触发:外发告警 应对:封禁账号")
    (nothing,) = await console.say("alice", "/register edit R1")
    assert "没有要修改的内容" in nothing
    (other,) = await console.say("alice", "/register 全删")
    assert "/register add" in other
    assert len(await rows(console, RegisterEntry)) == 1
    assert await rows(console, Risk) == []


async def test_entries_not_reviewed_for_90_days_are_flagged_in_the_weekly_summary(make_console: Any) -> None:
    console: ConsoleSession = await make_console(**{"risk_register.stale_after": "30d"})
    await _group(console)
    await console.say("alice", "/register add 机房断电 触发:UPS 告警 应对:切换备用机房")
    await console.advance("20d")
    await console.say("alice", "/register add 证书过期 触发:到期前 7 天 应对:续签")
    await console.advance("11d")
    (summary,) = [b for b in await console.say("bob", "/summary") if "周报" in b]
    assert "清单待复核**（30 天未复核，1 条）" in summary
    assert "- R1 机房断电（31 天）" in summary and "R2" not in summary
    (listed,) = await console.say("bob", "/register")
    assert "⚠ 已 31 天未复核" in listed
    await console.say("bob", "/register trigger R1")  # triggering reviews it
    (summary,) = [b for b in await console.say("bob", "/summary") if "周报" in b]
    assert "清单待复核" not in summary
