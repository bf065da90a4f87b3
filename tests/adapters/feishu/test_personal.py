"""Personal escalation on Feishu: 消息加急 on the very ping the bot just sent, through the outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import select

from hubao.app import App
from hubao.bot.events import User
from hubao.storage.models import Outbox
from tests.adapters import personal as shared

from .conftest import settings_for
from .standin import FeishuStandIn, Reply

CHAT = "oc_personal"
LEAD, ALICE, BOB, CAROL = (User(f"feishu:ou_{n}", n.title()) for n in ("lead", "alice", "bob", "carol"))


async def build(make_app: Any, standin: FeishuStandIn, **settings: Any) -> App:
    values = settings_for(standin, **settings).model_dump()
    app: App = await make_app(**{f"feishu.{key}": value for key, value in values.items()})
    await shared.group_with_members(app, "feishu", CHAT, LEAD, (ALICE, BOB, CAROL))
    return app


async def say(app: App, user: User, text: str, n: int) -> None:
    await shared.say(app, "feishu", CHAT, user, text, f"om_in_{n}")


async def test_urgent_buzzes_everyone_on_the_urgent_post_itself_and_sms_only_for_the_opted_in_level(
    make_app: Any, standin: FeishuStandIn
) -> None:
    app = await build(make_app, standin, urgent_app=True, urgent_sms_levels=["high"])
    await say(app, ALICE, "/urgent 机房断电", 1)
    await app.deliver()
    (post,) = standin.sent_to(CHAT)  # the group hears one message: the buzz found it by its uuid
    assert "机房断电" in post.text and "all" in post.mentions
    kinds = sorted((kind, message_id, tuple(sorted(ids))) for kind, message_id, ids in standin.urgents)
    everyone_but_alice = ("ou_bob", "ou_carol", "ou_lead")
    assert kinds == [("app", post.message_id, everyone_but_alice), ("sms", post.message_id, everyone_but_alice)]
    assert not [u for u in standin.urgents if u[0] == "phone"]  # phone buzzes spend quota: not opted in


async def test_first_step_after_the_resolve_window_buzzes_who_it_pings_once_and_respond_steps_do_not(
    make_app: Any, standin: FeishuStandIn
) -> None:
    app = await build(make_app, standin, urgent_app=True)
    await say(app, ALICE, "/risk 合同未盖章 @Bob", 1)
    await say(app, BOB, "/ack #1", 2)
    await app.advance(timedelta(hours=3))
    assert standin.urgents == []  # nothing yet: only resolve:1 and urgent reach people by default
    await app.advance(timedelta(hours=21, minutes=1))
    (buzz,) = standin.urgents
    ping = next(s for s in standin.sent_to(CHAT) if s.message_id == buzz[1])
    assert "ou_bob" in ping.mentions and "合同未盖章" in ping.text
    assert buzz[0] == "app" and sorted(buzz[2]) == ["ou_bob", "ou_lead"]
    await app.advance(timedelta(hours=2))
    assert len(standin.urgents) == 1  # exactly once per step


async def test_a_member_who_opted_out_is_not_buzzed_for_a_normal_step_but_is_for_urgent(
    make_app: Any, standin: FeishuStandIn
) -> None:
    app = await build(make_app, standin, urgent_app=True)
    await say(app, BOB, "/me notify off", 1)
    assert any("不再" in s.text for s in standin.sent_to(CHAT))
    await say(app, ALICE, "/risk 发票缺失 @Bob", 2)
    await app.advance(timedelta(hours=24, minutes=1))
    assert [sorted(ids) for _, _, ids in standin.urgents] == [["ou_lead"]]
    await say(app, CAROL, "/紧急 仓库漏水", 3)
    await app.deliver()
    assert "ou_bob" in standin.urgents[-1][2]


async def test_a_failing_buzz_is_retried_and_never_holds_back_the_group_ping(
    make_app: Any, standin: FeishuStandIn
) -> None:
    app = await build(make_app, standin, urgent_app=True)
    standin.urgent_fail_next.append(Reply(500, {"code": 1500, "msg": "internal error"}))
    standin.urgent_fail_next.append(Reply(429, {"code": 99991400, "msg": "request trigger frequency limit"},
                                          {"x-ogw-ratelimit-reset": "1"}))  # fmt: skip
    await say(app, ALICE, "/urgent 服务器告警", 1)
    assert len(standin.sent_to(CHAT)) == 1 and standin.urgents == []  # the post is out, the buzz waits
    for _ in range(6):
        await app.advance(timedelta(seconds=30))
    assert len(standin.urgents) == 1 and len(standin.sent_to(CHAT)) == 1
    personal_rows = [o for o in await rows_of(app) if o.channel == "personal:app"]
    assert [(o.state, o.attempts) for o in personal_rows] == [("sent", 3)]


async def test_a_buzz_the_platform_refuses_is_dead_and_the_reason_kept(make_app: Any, standin: FeishuStandIn) -> None:
    app = await build(make_app, standin, urgent_app=True)
    standin.left_chats.add(CHAT)
    await say(app, ALICE, "/urgent 断网", 1)
    (row,) = [o for o in await rows_of(app) if o.channel == "personal:app"]
    assert row.state == "dead" and "230002" in row.last_error
    assert len(standin.sent_to(CHAT)) == 1


async def test_off_until_configured(make_app: Any, standin: FeishuStandIn) -> None:
    app = await build(make_app, standin)
    await say(app, ALICE, "/urgent 断网", 1)
    await app.advance(timedelta(hours=25))
    assert standin.urgents == [] and standin.urgent_requests == 0
    assert not [o for o in await rows_of(app) if o.channel.startswith("personal:")]


async def rows_of(app: App) -> list[Outbox]:
    async with app.db.transaction() as session:
        return list((await session.exec(select(Outbox))).all())
