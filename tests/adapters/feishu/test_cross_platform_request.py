"""A Feishu group asks a group on another platform: the request is the target's risk, the Feishu
group hears back through Feishu (the core is platform-neutral)."""

from __future__ import annotations

from typing import Any

from hubao.adapters.console import ConsoleAdapter
from hubao.app import App
from hubao.bot.events import InboundEvent, User
from hubao.storage import repo

from .conftest import settings_for
from .standin import FeishuStandIn

CHAT = "oc_store"
ALICE = User("feishu:ou_alice", "Alice")
XU = User("console:xu", "xu")


async def test_a_feishu_group_asks_a_console_group_and_hears_back_on_feishu(
    make_app: Any, standin: FeishuStandIn
) -> None:
    printed: list[str] = []
    values = settings_for(standin).model_dump()
    app: App = await make_app(adapters={"console": ConsoleAdapter(printed.append)},
                              **{f"feishu.{key}": value for key, value in values.items()})  # fmt: skip
    await app.register_group("feishu", CHAT, "门店组", leader=ALICE)
    warehouse = await app.register_group("console", "wh", "仓储组", leader=XU)
    async with app.db.transaction() as session:
        await repo.upsert_member(session, warehouse.id or 0, XU.id, XU.name, app.clock.now())

    async def say(platform: str, chat: str, user: User, text: str, n: int) -> None:
        await app.dispatch(InboundEvent(platform=platform, chat_id=chat, sender=user, text=text,
                                        message_id=f"m{n}", time=app.clock.now()))  # fmt: skip
        await app.deliver()

    await say("feishu", CHAT, ALICE, "/协同 仓储组 门店A 库存低于阈值", 1)
    assert any("已发往 仓储组：仓储组#1，负责人 xu" in s.text for s in standin.sent_to(CHAT))
    assert any("📨 来自 门店组（Alice）的协同请求" in p and "库存低于阈值" in p for p in printed)
    await say("console", "wh", XU, "/resolve #1 已调拨", 2)
    back = [s for s in standin.sent_to(CHAT) if "协同请求 仓储组#1 已由 xu 解决" in s.text]
    assert len(back) == 1 and "ou_alice" in back[0].mentions and "已调拨" in back[0].text
