"""Sending through im/v1: token cache and refresh, idempotency, limits and error mapping."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from hubao.adapters.feishu.adapter import FeishuAdapter
from hubao.bot.adapter import DeliveryError
from hubao.bot.clock import ManualClock
from hubao.bot.events import Button, Format, OutboundMessage, User

from .standin import APP_SECRET, BOT_OPEN_ID, FeishuStandIn, Reply

BOB = User("feishu:ou_bob", "Bob")


def msg(text: str, chat: str = "oc_1", **kw: object) -> OutboundMessage:
    return OutboundMessage(platform="feishu", chat_id=chat, text=text, **kw)  # type: ignore[arg-type]


async def test_send_text_with_mentions(adapter: FeishuAdapter, standin: FeishuStandIn) -> None:
    await adapter.send(msg("风险 #3 已逾期", mentions=(BOB,), mention_all=True))
    (sent,) = standin.sent_to("oc_1")
    assert sent.msg_type == "text"
    assert sent.mentions == {"all", "ou_bob"}
    assert sent.uuid and len(sent.uuid) <= 50
    assert ("create", "chat_id") in standin.requests


async def test_markdown_and_card(adapter: FeishuAdapter, standin: FeishuStandIn) -> None:
    await adapter.send(msg("**周报**", format=Format.MARKDOWN, mentions=(BOB,)))
    await adapter.send(msg("风险 #3", buttons=(Button("ack", 3), Button("resolve", 3)), mention_all=True))
    post, card = standin.sent_to("oc_1")
    assert post.msg_type == "post" and post.mentions == {"ou_bob"}
    assert card.msg_type == "interactive" and card.mentions == {"all"}
    assert card.buttons == [{"hubao": "ack", "risk": 3}, {"hubao": "resolve", "risk": 3}]


async def test_token_is_cached_and_refreshed(
    adapter: FeishuAdapter, standin: FeishuStandIn, clock: ManualClock
) -> None:
    await adapter.send(msg("one"))
    await adapter.send(msg("two"))
    assert standin.token_requests == 1
    clock.advance(minutes=100)
    await adapter.send(msg("three"))
    assert standin.token_requests == 1
    clock.advance(minutes=16)  # within 5 minutes of the 2 h expiry: fetch a new one first
    await adapter.send(msg("four"))
    assert standin.token_requests == 2
    assert len(standin.sent_to("oc_1")) == 4


async def test_invalid_token_is_refetched_once(adapter: FeishuAdapter, standin: FeishuStandIn) -> None:
    await adapter.send(msg("one"))
    standin.revoke_tokens()  # e.g. the app secret was rotated
    await adapter.send(msg("two"))
    assert standin.token_requests == 2
    assert [s.text for s in standin.sent_to("oc_1")] == ["one", "two"]


async def test_same_message_twice_posts_once(adapter: FeishuAdapter, standin: FeishuStandIn) -> None:
    message = msg("风险 #3 已逾期", mentions=(BOB,))
    standin.fail_next.append(Reply(503, {"code": 1, "msg": "system busy"}))
    with pytest.raises(DeliveryError) as failed:
        await adapter.send(message)
    assert failed.value.retryable
    await adapter.send(message)  # the outbox retries
    await adapter.send(message)  # and once more, after a lost answer
    assert len(standin.sent_to("oc_1")) == 1


async def test_rate_limit_is_retryable_with_reset(adapter: FeishuAdapter, standin: FeishuStandIn) -> None:
    assert adapter.send_limit.rate == 5 and adapter.send_limit.per == 1.0
    for n in range(5):
        await adapter.send(msg(f"m{n}"))
    with pytest.raises(DeliveryError) as limited:
        await adapter.send(msg("m5"))
    assert limited.value.retryable and limited.value.retry_after == 1.0
    await adapter.send(msg("other chat", chat="oc_2"))  # the limit is per chat


@pytest.mark.parametrize(
    ("reply", "retryable", "retry_after"),
    [
        (Reply(429, {"code": 99991400, "msg": "limit"}, {"x-ogw-ratelimit-reset": "7"}), True, 7.0),
        (Reply(400, {"code": 99991400, "msg": "limit (old API)"}), True, 1.0),
        (Reply(500, {"code": 1000040343, "msg": "internal"}), True, None),
        (Reply(502, {}), True, None),
        (Reply(400, {"code": 230002, "msg": "Bot is not in the chat"}), False, None),
        (Reply(400, {"code": 230001, "msg": "invalid param"}), False, None),
        (Reply(403, {"code": 99991672, "msg": "Access denied: scope im:message"}), False, None),
    ],
)
async def test_error_mapping(
    reply: Reply, retryable: bool, retry_after: float | None, adapter: FeishuAdapter, standin: FeishuStandIn
) -> None:
    standin.fail_next.append(reply)
    with pytest.raises(DeliveryError) as failed:
        await adapter.send(msg("x"))
    assert failed.value.retryable is retryable
    assert failed.value.retry_after == retry_after


async def test_network_error_is_retryable(make_adapter: Callable[..., FeishuAdapter]) -> None:
    adapter = make_adapter(api_base="http://127.0.0.1:9", http_timeout=2)
    try:
        with pytest.raises(DeliveryError) as failed:
            await adapter.send(msg("x"))
        assert failed.value.retryable
    finally:
        await adapter.stop()


async def test_bad_secret_is_not_retryable(make_adapter: Callable[..., FeishuAdapter], standin: FeishuStandIn) -> None:
    adapter = make_adapter(app_secret="wrong")
    try:
        with pytest.raises(DeliveryError) as failed:
            await adapter.send(msg("x"))
        assert not failed.value.retryable and "10014" in str(failed.value)
        assert standin.sent == []
    finally:
        await adapter.stop()


async def test_too_large_is_refused(adapter: FeishuAdapter) -> None:
    with pytest.raises(DeliveryError) as failed:
        await adapter.send(msg("x" * 200_000))
    assert not failed.value.retryable


async def test_card_update_goes_to_the_card(adapter: FeishuAdapter, standin: FeishuStandIn) -> None:
    update = msg("风险 #3 已解决", updates_card=True, reply_handle={"message_id": "om_card_3"})
    await adapter.send(update)
    assert [m for m, _ in standin.updates] == ["om_card_3"] and standin.sent == []


async def test_check_reports_nothing_when_fine(make_adapter: Callable[..., FeishuAdapter]) -> None:
    assert await make_adapter().check() == []
    assert await make_adapter(transport="long_connection").check() == []
    assert await make_adapter(bot_open_id=BOT_OPEN_ID).check() == []


async def test_check_names_the_problem(make_adapter: Callable[..., FeishuAdapter]) -> None:
    (problem,) = await make_adapter(app_secret="wrong-secret").check()
    assert "tenant_access_token" in problem and "10014" in problem and "wrong-secret" not in problem
    (problem,) = await make_adapter(bot_open_id="ou_somebody_else").check()
    assert "bot_open_id" in problem
    (problem,) = await make_adapter(api_base="http://127.0.0.1:9", http_timeout=2).check()
    assert "127.0.0.1:9" in problem
    assert APP_SECRET not in problem


def test_missing_keys() -> None:
    from hubao.adapters.feishu import Settings

    assert Settings(enabled=True).missing_keys() == ["app_id", "app_secret", "verification_token"]
    assert Settings(app_id="a", app_secret="b", encrypt_key="k").missing_keys() == []
    assert Settings(app_id="a", app_secret="b", transport="long_connection").missing_keys() == []
    assert APP_SECRET not in repr(Settings(app_id="a", app_secret=APP_SECRET))


def test_importing_the_adapter_does_not_import_lark_oapi() -> None:
    code = (
        "import sys, asyncio\n"
        "from hubao.adapters.feishu import Settings, create\n"
        "from hubao.adapters.feishu.render import render\n"
        "from hubao.bot.adapter import AdapterContext\n"
        "from hubao.bot.clock import SystemClock\n"
        "async def dispatch(event, *, inline_replies=False): ...\n"
        "create(Settings(app_id='a', app_secret='b', verification_token='t'),"
        " AdapterContext(dispatch=dispatch, clock=SystemClock(), leases=None)).routes()\n"
        "assert 'lark_oapi' not in sys.modules, 'lark_oapi was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
