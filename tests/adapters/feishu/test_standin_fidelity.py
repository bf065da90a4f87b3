"""The stand-in speaks what the official SDK (lark-oapi 1.7.5) speaks.

Our adapter does not use these SDK parts (see docs/dependencies.md), so this is where the
stand-in's wire format is held against the reference implementation: the SDK's HTTP dispatcher
accepts the stand-in's signed, encrypted events, and the SDK's own long-connection client, run
against the stand-in, answers a card click the way our client does.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from hubao.bot.clock import ManualClock
from hubao.bot.events import Button

from .standin import (
    APP_ID,
    APP_SECRET,
    BOT_NAME,
    BOT_OPEN_ID,
    ENCRYPT_KEY,
    VERIFICATION_TOKEN,
    FeishuStandIn,
    card_event,
    message_event,
    signed_request,
)


def test_sdk_dispatcher_accepts_standin_events(clock: ManualClock) -> None:
    import lark_oapi as lark

    seen: list[Any] = []
    handler = (
        lark.EventDispatcherHandler.builder(ENCRYPT_KEY, VERIFICATION_TOKEN)
        .register_p2_im_message_receive_v1(seen.append)
        .build()
    )
    mentions = {"@_user_1": (BOT_OPEN_ID, BOT_NAME), "@_user_2": ("ou_bob", "Bob")}
    body, headers = signed_request(message_event("oc_1", "ou_alice", "@_user_1 /ack 3", mentions), clock=clock)
    request = lark.RawRequest()
    request.uri, request.headers, request.body = "/callback/feishu", headers, body
    response = handler.do(request)
    assert response.status_code == 200, response.content
    (event,) = seen
    assert event.event.message.chat_id == "oc_1"
    assert [m.key for m in event.event.message.mentions] == ["@_user_1", "@_user_2"]
    assert event.event.sender.sender_id.open_id == "ou_alice"


async def test_sdk_long_connection_client_against_the_standin(standin: FeishuStandIn) -> None:
    import lark_oapi as lark
    import lark_oapi.ws.client as ws_client
    from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTriggerResponse

    clicks: list[Any] = []

    def on_click(data: Any) -> P2CardActionTriggerResponse:
        clicks.append(data)
        return P2CardActionTriggerResponse({"toast": {"type": "success", "content": "ok"}})

    handler = lark.EventDispatcherHandler.builder("", "").register_p2_card_action_trigger(on_click).build()
    client = lark.ws.Client(
        APP_ID, APP_SECRET, event_handler=handler, domain=standin.url, log_level=lark.LogLevel.ERROR
    )
    loop = asyncio.new_event_loop()

    def run() -> None:  # the SDK blocks in start() on its module-level loop: give it its own
        ws_client.loop = loop
        asyncio.set_event_loop(loop)
        # "Event loop stopped before Future completed" is how we stop it
        with contextlib.suppress(RuntimeError):
            client.start()
        pending = asyncio.all_tasks(loop)  # the SDK has no stop(): cancel what it left running
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        headers, answer, code = await standin.push(card_event("oc_1", "ou_bob", Button("ack", 2).to_value()))
        assert code == 200 and "biz_rt" in headers
        assert answer == {"toast": {"type": "success", "content": "ok"}}
        assert clicks[0].event.action.value == {"hubao": "ack", "risk": 2}
    finally:
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join, 5)
        await standin.drop_connections()
