"""Personal escalation on WeCom: an application message (应用消息) through a configured self-built app."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hubao.adapters.wecom import Settings
from hubao.app import App
from hubao.bot.events import User
from tests.adapters import personal as shared
from tests.adapters.wecom.conftest import WEBHOOK_KEYS
from tests.adapters.wecom.standin import WeComStandIn

CHAT = "wrGroup1"
LEAD, ALICE, BOB, CAROL = (User(f"wecom:{n}", n.title()) for n in ("lead", "alice", "bob", "carol"))


async def build(make_app: Any, standin: WeComStandIn, *, app_message: bool = True) -> App:
    values: dict[str, Any] = {
        "enabled": True, "transport": "http", "bot_name": "RiskBot", "token": standin.token,
        "encoding_aes_key": standin.aes_key, "api_base": standin.base,
        "webhook_keys": {chat: key for key, chat in WEBHOOK_KEYS.items()},
    }  # fmt: skip
    if app_message:
        values.update(app_corp_id=standin.corp_id, app_agent_id=standin.agent_id, app_secret=standin.app_secret)
    app: App = await make_app(**{f"wecom.{key}": value for key, value in values.items()})
    await shared.group_with_members(app, "wecom", CHAT, LEAD, (ALICE, BOB, CAROL))
    return app


async def say(app: App, user: User, text: str, n: int) -> None:
    await shared.say(app, "wecom", CHAT, user, text, f"m{n}")


async def test_urgent_reaches_each_member_by_application_message(make_app: Any, standin: WeComStandIn) -> None:
    app = await build(make_app, standin)
    await say(app, ALICE, "/urgent 冷链断电", 1)
    ((users, text),) = standin.app_messages
    assert sorted(users) == ["bob", "carol", "lead"] and "【互保一组】" in text and "冷链断电" in text
    assert any("冷链断电" in str(body) for _, body in standin.robot)  # and the group robot pinged @all


async def test_first_resolve_step_reaches_owner_and_leader_once_unless_opted_out(
    make_app: Any, standin: WeComStandIn
) -> None:
    app = await build(make_app, standin)
    await say(app, LEAD, "/me notify off", 1)
    await say(app, ALICE, "/risk 报价单未审 @Bob", 2)
    await app.advance(timedelta(hours=24, minutes=1))
    ((users, text),) = standin.app_messages
    assert users == ["bob"] and "报价单未审" in text  # the leader opted out of non-urgent steps
    await app.advance(timedelta(hours=3))
    assert len(standin.app_messages) == 1


async def test_an_expired_token_is_fetched_anew_and_a_rate_limit_waited_out(
    make_app: Any, standin: WeComStandIn
) -> None:
    app = await build(make_app, standin)
    await say(app, ALICE, "/urgent 第一次", 1)
    standin.app_tokens.clear()  # the cached token is refused (40014): fetched anew, sent once
    standin.app_fail_next.append({"errcode": 45009, "errmsg": "api freq out of limit"})
    await say(app, ALICE, "/urgent 第二次", 2)
    assert len(standin.app_messages) == 1
    await app.advance(timedelta(seconds=61))
    assert [t for _, t in standin.app_messages if "第二次" in t]
    rows = [o for o in await shared.outbox(app) if o.channel == "personal:app"]
    assert [(o.state, o.attempts) for o in rows] == [("sent", 1), ("sent", 2)]


async def test_no_valid_user_is_dead_and_the_group_ping_still_goes(make_app: Any, standin: WeComStandIn) -> None:
    app = await build(make_app, standin)
    standin.app_users = set()  # nobody in the app's visible range: 81013
    await say(app, ALICE, "/urgent 断网", 1)
    (row,) = [o for o in await shared.outbox(app) if o.channel == "personal:app"]
    assert row.state == "dead" and "81013" in row.last_error
    assert any("断网" in str(body) for _, body in standin.robot)


async def test_off_until_the_self_built_app_is_configured(make_app: Any, standin: WeComStandIn) -> None:
    app = await build(make_app, standin, app_message=False)
    await say(app, ALICE, "/urgent 断网", 1)
    await app.advance(timedelta(hours=25))
    assert standin.app_messages == [] and not [o for o in await shared.outbox(app) if o.channel.startswith("personal:")]
    assert Settings(app_corp_id="ww", app_agent_id=1).personal_kinds("high") == []  # no secret: off
