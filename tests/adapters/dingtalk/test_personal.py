"""Personal escalation on DingTalk: a one-to-one message from the app robot, or a work notification."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from hubao.adapters.dingtalk.settings import Settings
from hubao.app import App
from hubao.bot.events import User
from tests.adapters import personal as shared

from .standin import CHAT, StandIn

LEAD, ALICE, BOB, CAROL = (User(f"dingtalk:staff_{n}", n.title()) for n in ("lead", "alice", "bob", "carol"))


async def build(make_app: Any, standin: StandIn, **settings: Any) -> App:
    values = standin.settings(transport="http", **settings)
    app: App = await make_app(**{f"dingtalk.{key}": value for key, value in values.items()})
    await shared.group_with_members(app, "dingtalk", CHAT, LEAD, (ALICE, BOB, CAROL))
    return app


async def say(app: App, user: User, text: str, n: int) -> None:
    await shared.say(app, "dingtalk", CHAT, user, text, f"msg{n}")


async def test_urgent_reaches_each_member_one_to_one_from_the_app_robot(make_app: Any, standin: StandIn) -> None:
    app = await build(make_app, standin, personal="robot")
    await say(app, ALICE, "/urgent 冷库温度过高", 1)
    (direct,) = standin.direct
    assert direct[0] == "robot" and sorted(direct[1]) == ["staff_bob", "staff_carol", "staff_lead"]
    assert "【互保一组】" in direct[2] and "冷库温度过高" in direct[2]
    assert any("冷库温度过高" in json_text(s.body) for s in standin.sent)  # the group post went too


async def test_first_resolve_step_reaches_owner_and_leader_once(make_app: Any, standin: StandIn) -> None:
    app = await build(make_app, standin, personal="robot")
    await say(app, ALICE, "/risk 对账差异 @Bob", 1)
    await app.advance(timedelta(hours=3))
    assert standin.direct == []  # respond pings stay in the group by default
    await app.advance(timedelta(hours=21, minutes=1))
    (direct,) = standin.direct
    assert sorted(direct[1]) == ["staff_bob", "staff_lead"] and "对账差异" in direct[2]
    await app.advance(timedelta(hours=3))
    assert len(standin.direct) == 1
    # queued by the sweep in a channel of its own, never behind the group's pings at the group's rate
    assert [o.channel for o in await shared.outbox(app) if o.channel.startswith("personal:")] == ["personal:robot"]


async def test_work_notification_refetches_a_rejected_token_and_waits_out_a_rate_limit(
    make_app: Any, standin: StandIn
) -> None:
    app = await build(make_app, standin, personal="work_notice", agent_id="agent-1")
    standin.legacy_failures.append({"errcode": 90018, "errmsg": "当前企业调用该接口的频率超过限制"})
    await say(app, ALICE, "/urgent 机房停电", 1)
    assert standin.direct == []
    standin.legacy_tokens.clear()  # the cached token is revoked meanwhile: 40014, fetched anew
    for _ in range(4):
        await app.advance(timedelta(seconds=30))
    (direct,) = standin.direct
    assert direct[0] == "work_notice" and sorted(direct[1]) == ["staff_bob", "staff_carol", "staff_lead"]
    (row,) = [o for o in await shared.outbox(app) if o.channel == "personal:work_notice"]
    assert row.state == "sent" and row.attempts == 2


async def test_a_refused_one_to_one_message_is_dead_and_the_group_ping_unaffected(
    make_app: Any, standin: StandIn
) -> None:
    app = await build(make_app, standin, personal="robot")
    standin.openapi_failures.append((403, {"code": "Forbidden.AccessDenied.AccessTokenPermissionDenied",
                                           "message": "没有调用该接口的权限"}))  # fmt: skip
    await say(app, ALICE, "/urgent 断网", 1)
    (row,) = [o for o in await shared.outbox(app) if o.channel == "personal:robot"]
    assert row.state == "dead" and "PermissionDenied" in row.last_error
    assert any("断网" in json_text(s.body) for s in standin.sent)


async def test_off_until_configured_and_work_notice_needs_an_agent_id(make_app: Any, standin: StandIn) -> None:
    app = await build(make_app, standin)
    await say(app, ALICE, "/urgent 断网", 1)
    await app.advance(timedelta(hours=25))
    assert standin.direct == [] and not [o for o in await shared.outbox(app) if o.channel.startswith("personal:")]
    assert "agent_id" in Settings.model_validate(standin.settings(personal="work_notice")).missing_keys()


def json_text(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False)
