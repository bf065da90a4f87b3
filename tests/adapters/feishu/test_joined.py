"""Added to a Feishu group, the bot says hello: what it does and how the group is registered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hubao.adapters.feishu.adapter import FeishuAdapter
from hubao.adapters.feishu.decode import BotIdentity, DecodeError, decode_message
from hubao.app import App
from hubao.bot.events import User

from .conftest import settings_for
from .standin import APP_ID, BOT_NAME, BOT_OPEN_ID, VERIFICATION_TOKEN, FeishuStandIn, message_event

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def bot_added(chat_id: str, operator: str, event_id: str = "ev_added_1") -> dict[str, Any]:
    """``im.chat.member.bot.added_v1`` as Feishu documents it (服务端 API › 群组 › 机器人进群)."""
    return {
        "schema": "2.0",
        "header": {"event_id": event_id, "event_type": "im.chat.member.bot.added_v1",
                   "create_time": "1700000000000", "token": VERIFICATION_TOKEN, "app_id": APP_ID,
                   "tenant_key": "tk_standin"},
        "event": {"chat_id": chat_id, "operator_id": {"union_id": "on_x", "user_id": "", "open_id": operator},
                  "external": False, "operator_tenant_key": "tk_standin", "name": "互保一组",
                  "i18n_names": {"zh_cn": "互保一组", "en_us": "", "ja_jp": ""}},
    }  # fmt: skip


def test_the_bot_added_event_decodes_to_a_joined_event() -> None:
    event = decode_message(bot_added("oc_new", "ou_lead"), BotIdentity(open_id=BOT_OPEN_ID), NOW)
    assert event is not None
    assert (event.kind, event.chat_id, event.sender.id, event.text) == ("joined", "oc_new", "feishu:ou_lead", "")
    assert event.dedupe_key == "feishu:ev_added_1"
    broken = bot_added("oc_new", "ou_lead")
    del broken["event"]["chat_id"]
    try:
        decode_message(broken, BotIdentity(open_id=BOT_OPEN_ID), NOW)
    except DecodeError:
        pass
    else:
        raise AssertionError("a bot-added event without its chat must not decode")


async def _bot(make_app: Any, standin: FeishuStandIn) -> tuple[App, FeishuAdapter]:
    values = settings_for(standin, transport="long_connection").model_dump()
    app: App = await make_app(**{f"feishu.{key}": value for key, value in values.items()})
    adapter = app.adapters["feishu"]
    assert isinstance(adapter, FeishuAdapter)
    await adapter.start()
    return app, adapter


async def test_added_to_a_new_group_the_bot_says_hello_and_how_to_register(
    make_app: Any, standin: FeishuStandIn
) -> None:
    app, _adapter = await _bot(make_app, standin)
    await standin.push(bot_added("oc_new", "ou_lead"))
    await standin.push(bot_added("oc_new", "ou_lead"))  # the same event again: one hello
    await app.idle()
    await app.deliver()
    (hello,) = standin.sent_to("oc_new")
    assert "大家好，我是互保助手" in hello.text and "/admin setup <小组名称>" in hello.text

    # Before it is registered, the group is told the same when it talks to the bot.
    mention = {"@_user_1": (BOT_OPEN_ID, BOT_NAME)}
    await standin.push(message_event("oc_new", "ou_alice", "@_user_1 提醒 周五交合同", mention))
    await app.idle()
    await app.deliver()
    assert "/admin setup <小组名称>" in standin.sent_to("oc_new")[-1].text


async def test_added_back_to_a_registered_group_the_bot_points_to_help(make_app: Any, standin: FeishuStandIn) -> None:
    app, _adapter = await _bot(make_app, standin)
    await app.register_group("feishu", "oc_known", "互保一组", leader=User("feishu:ou_lead", "Lead"))
    await standin.push(bot_added("oc_known", "ou_lead", event_id="ev_added_2"))
    await app.idle()
    await app.deliver()
    (hello,) = standin.sent_to("oc_known")
    assert "本群已登记，发送 /help 查看常用命令" in hello.text and "/admin setup" not in hello.text
