"""/me notify: a member keeps out of direct messages for non-urgent steps; each change is audited."""

from __future__ import annotations

from hubao.console import ConsoleSession
from hubao.storage.models import NotifyOptOut, RiskEvent
from tests.handlers.console_text import rows


async def test_a_member_turns_direct_messages_off_and_on_and_bad_input_shows_the_usage(
    console: ConsoleSession,
) -> None:
    await console.say("alice", "在")
    assert await console.say("bob", "/我的 提醒 关") == [
        "bot: 已关闭：非紧急升级不再私信/加急提醒你；紧急事项仍会送达。"
    ]
    assert [o.user_id for o in await rows(console, NotifyOptOut)] == ["console:bob"]
    (again,) = await console.say("bob", "/me notify off")  # saying it twice changes nothing
    assert "已关闭" in again and len(await rows(console, NotifyOptOut)) == 1
    (bad,) = await console.say("bob", "/me notify maybe")
    assert bad.startswith("bot: 参数不对") and "/me notify <on|off>" in bad
    (empty,) = await console.say("bob", "/me notify")
    assert "/me notify <on|off>" in empty
    assert await console.say("bob", "/me notify on") == ["bot: 已开启：升级时会私信/加急提醒你。"]
    assert await rows(console, NotifyOptOut) == []
    events = [(e.kind, e.actor_id, e.data) for e in await rows(console, RiskEvent) if e.kind == "me.notify"]
    assert events == [("me.notify", "console:bob", {"on": False}), ("me.notify", "console:bob", {"on": False}),
                      ("me.notify", "console:bob", {"on": True})]  # fmt: skip
