"""Cross-group requests: one group asks another; the target's on-duty member owns it; the asker hears back."""

from __future__ import annotations

from typing import Any

import aiohttp

from hubao.console import ConsoleSession
from hubao.handlers.intake import issue_token
from hubao.storage import repo
from hubao.storage.models import CrossRequest, Risk, RiskEvent
from tests.handlers.console_text import rows
from tests.harness import serve


async def _groups(console: ConsoleSession) -> None:
    """The demo group (互保演示组, led by alice) and a warehouse group (仓储组, led by wendy, bob on duty)."""
    for name in ("alice", "bob"):
        await console.say(name, "在")
    (setup,) = await console.say("root", "/admin setup 仓储组 @wendy", chat="wh")
    assert "仓储组" in setup
    for name in ("wendy", "xu", "yan"):
        await console.say(name, "在", chat="wh")
    await console.say("wendy", "/duty set @xu @yan", chat="wh")


async def test_store_asks_the_warehouse_and_hears_back_on_every_change(console: ConsoleSession) -> None:
    await _groups(console)
    replies = await console.say("alice", "/协同 仓储组 门店A 的 SKU-118 库存低于阈值 !高")
    sent = next(r for r in replies if "已发往" in r)
    assert "已发往 仓储组：仓储组#1，负责人 xu" in sent
    card = next(r for r in replies if "来自 互保演示组" in r)
    assert card.startswith("bot: @xu 📨 来自 互保演示组（alice）的协同请求：")
    (risk,) = await rows(console, Risk)
    assert (risk.owner_id, risk.reporter_id, risk.level) == ("console:xu", "console:alice", "high")
    assert risk.source == "request"
    (link,) = await rows(console, CrossRequest)
    assert link.risk_id == risk.id
    # the target acknowledges: the asking group hears it, mentioning who asked
    back = await console.say("xu", "/ack #1", chat="wh")
    assert any(b.startswith("bot: @alice 协同请求 仓储组#1 已由 xu 认领") for b in back)
    # /list in the asking group shows the outgoing request apart; /show follows it
    (board,) = await console.say("bob", "/list")
    assert "本组发出的协同请求（1）：" in board and "仓储组#1【高】" in board and "xu · 处理中" in board
    (shown,) = await console.say("bob", "/show 仓储组#1")
    assert shown.startswith("bot: 协同请求 仓储组#1") and "时间线：" in shown
    assert "alice 登记" in shown and "xu 收到" in shown
    (there,) = await console.say("yan", "/show #1", chat="wh")
    assert "协同请求：来自 互保演示组（alice，" in there
    back = await console.say("xu", "/resolve #1 已调拨 20 件", chat="wh")
    assert any("协同请求 仓储组#1 已由 xu 解决" in b and "解决说明：已调拨 20 件" in b for b in back)
    (board,) = await console.say("bob", "/list")
    assert "本组发出的协同请求" not in board  # resolved: only /list all shows it
    (everything,) = await console.say("bob", "/list all")
    assert "仓储组#1" in everything


async def test_an_unanswered_request_is_overdue_in_the_asking_group_once(console: ConsoleSession) -> None:
    await _groups(console)
    await console.say("alice", "/request 仓储组 盘点差异 due:2h")
    blocks = await console.advance("2h1m")
    overdue = [b for b in blocks if "已逾期" in b and "仓储组#1" in b]
    assert len(overdue) == 1 and overdue[0].startswith("bot: @alice ⚠️ 协同请求 仓储组#1 已逾期")
    assert not [b for b in await console.advance("25h") if "协同请求 仓储组#1 已逾期" in b]  # once


async def test_refusals_say_why(console: ConsoleSession) -> None:
    await _groups(console)
    (unknown,) = await console.say("alice", "/request 财务组 报销")
    assert "没有名为“财务组”的小组" in unknown
    (itself,) = await console.say("alice", "/request 互保演示组 自己")
    assert "不能向本组发起协同请求" in itself
    (usage,) = await console.say("alice", "/request 仓储组")
    assert "请写上目标小组和请求内容" in usage and "/request <group> <text>" in usage
    (refused,) = await console.say("wendy", "/admin requests deny 互保演示组", chat="wh")
    assert refused.startswith("bot: 无权执行")  # admins decide
    (denied,) = await console.say("root", "/admin requests deny 互保演示组", chat="wh")
    assert denied == "bot: 已拒绝 互保演示组 向 仓储组 发起协同请求。"
    (no,) = await console.say("alice", "/request 仓储组 补货")
    assert "仓储组 不接受来自 互保演示组 的协同请求" in no
    await console.say("root", "/admin requests allow 互保演示组", chat="wh")
    assert any("已发往" in r for r in await console.say("alice", "/request 仓储组 补货"))
    # once a group is allowed, groups not allowed are refused
    await console.say("root", "/admin setup 电商组", chat="ec")
    await console.say("erin", "在", chat="ec")
    (only,) = await console.say("erin", "/request 仓储组 备货", chat="ec")
    assert "仓储组 只接受已允许小组的协同请求，电商组 不在其中" in only
    (missing,) = await console.say("bob", "/show 仓储组#9")
    assert missing == "bot: 本组没有发出过 仓储组#9 这个协同请求。"
    audited = [(e.kind, e.data) for e in await rows(console, RiskEvent) if e.kind == "admin.requests"]
    assert [d["allowed"] for _, d in audited] == [False, True]


async def _post(console: ConsoleSession, kind: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with console.app.db.transaction() as session:
        group = await repo.get_group(session, "console", "demo")
        assert group is not None and group.id is not None
        token, _ = await issue_token(session, group.id, "console:root", console.clock.now())
    server = await serve(console.app)
    try:
        async with aiohttp.ClientSession() as http:
            url = str(server.make_url(f"/api/v1/groups/{group.id}/{kind}"))
            async with http.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as response:
                return response.status, await response.json()
    finally:
        await server.close()


async def test_a_stock_threshold_from_the_intake_api_targets_the_warehouse(console: ConsoleSession) -> None:
    await _groups(console)
    status, body = await _post(console, "risks", {"text": "SKU-118 库存 3 < 10", "target": "仓储组", "level": "high"})
    assert status == 201 and body["owner"] == "console:xu" and body["number"] == 1
    (risk,) = await rows(console, Risk)
    (link,) = await rows(console, CrossRequest)
    assert link.risk_id == risk.id and risk.source == "api"
    heard = await console.advance("1m")
    assert any(h.startswith("bot: @xu 📨 来自 互保演示组") and "SKU-118" in h for h in heard)
    status, body = await _post(console, "risks", {"text": "x", "target": "仓储组", "owner": "xu"})
    assert status == 422 and "on-duty" in body["detail"]
    status, body = await _post(console, "risks", {"text": "x", "target": "财务组"})
    assert status == 422 and "财务组" in body["detail"]
    await console.say("root", "/admin requests deny 互保演示组", chat="wh")
    status, body = await _post(console, "risks", {"text": "x", "target": "仓储组"})
    assert status == 403 and body["error"] == "refused" and "does not take requests from 互保演示组" in body["detail"]


async def test_an_alert_with_a_target_label_opens_and_resolves_a_request(console: ConsoleSession) -> None:
    await _groups(console)
    alert = {"status": "firing", "fingerprint": "abc123", "labels": {"alertname": "StockLow", "target": "仓储组",
             "severity": "critical"}, "annotations": {"summary": "SKU-7 below threshold"}}  # fmt: skip
    status, body = await _post(console, "alertmanager", {"version": "4", "alerts": [alert]})
    assert status == 200 and body["created"] == [1]
    (risk,) = await rows(console, Risk)
    assert (risk.owner_id, risk.source, risk.status) == ("console:xu", "alert", "open")
    await console.advance("1m")
    status, body = await _post(console, "alertmanager", {"version": "4", "alerts": [{**alert, "status": "resolved"}]})
    assert status == 200 and body["resolved"] == [1]
    heard = await console.advance("1m")
    assert any("协同请求 仓储组#1 已由" in h and "解决" in h for h in heard)
    (risk,) = await rows(console, Risk)
    assert risk.status == "resolved"


async def test_both_weekly_summaries_count_requests_asked_answered_in_time_and_overdue(
    console: ConsoleSession,
) -> None:
    await _groups(console)
    await console.say("alice", "/request 仓储组 补货 SKU-1")
    await console.say("alice", "/request 仓储组 盘点差异 due:2h")
    await console.say("xu", "/ack #1", chat="wh")  # in time, by whoever is on duty
    await console.advance("3h")  # #2: never acknowledged, past its deadline
    await console.say("xu", "/resolve #1 已补", chat="wh")
    (asker,) = await console.say("bob", "/周报")
    assert "跨组协同" in asker and "发出 2 项：按时响应 1 · 逾期 1" in asker and "收到" not in asker
    (target,) = await console.say("yan", "/summary", chat="wh")
    assert "收到 2 项：按时响应 1 · 逾期 1" in target
    # the on-duty member's acknowledgement counts for their points like any other
    (why,) = await console.say("yan", "/points why @xu", chat="wh")
    assert "#1 按时收到 +1" in why and "#1 按时解决 +3" in why


async def test_a_group_without_requests_has_no_request_section(console: ConsoleSession) -> None:
    await _groups(console)
    await console.say("alice", "/risk 本组风险")
    (summary,) = await console.say("bob", "/summary")
    assert "跨组协同" not in summary
