"""Sending: session webhook while valid, robot OpenAPI with a cached token, custom robot for
pings (signed, 20/min, 130101 block), cards, and the errors mapped to DeliveryError."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hubao.adapters.dingtalk.decode import decode_message
from hubao.bot.adapter import DeliveryError
from hubao.bot.events import Button, Format, OutboundMessage, User

from .conftest import MakeAdapter
from .standin import CHAT, StandIn

BOB = User("dingtalk:bob01", "Bob")


def msg(text: str = "收到 #1", **kw: object) -> OutboundMessage:
    return OutboundMessage(platform="dingtalk", chat_id=CHAT, text=text, **kw)  # type: ignore[arg-type]


def handle_from(standin: StandIn, clock, ttl: timedelta = timedelta(minutes=90)) -> dict[str, str]:
    event = decode_message(standin.robot_message("/ack #1", session_ttl=ttl), clock.now())
    assert event is not None
    return dict(event.reply_handle)


async def test_reply_goes_through_the_session_webhook_while_valid(
    make_adapter: MakeAdapter, standin: StandIn, clock
) -> None:
    adapter = make_adapter()
    handle = handle_from(standin, clock)
    await adapter.send(msg("已认领 #1", mentions=(BOB,), reply_handle=handle))
    [sent] = standin.sent
    assert sent.channel == "session"
    assert sent.at_user_ids == {"bob01"} and "@bob01" in sent.text
    assert standin.token_fetches == 0  # no OpenAPI needed


async def test_expired_session_webhook_falls_back_to_openapi(
    make_adapter: MakeAdapter, standin: StandIn, clock
) -> None:
    adapter = make_adapter()
    handle = handle_from(standin, clock)
    clock.advance(minutes=89, seconds=30)  # within the safety margin of expiry
    await adapter.send(msg("later", reply_handle=handle))
    [sent] = standin.sent
    assert sent.channel == "openapi"
    assert sent.body["robotCode"] == "dingappkey123" and sent.body["openConversationId"] == CHAT
    assert sent.text == "later"


async def test_session_webhook_refusal_falls_back(make_adapter: MakeAdapter, standin: StandIn, clock) -> None:
    adapter = make_adapter()
    handle = handle_from(standin, clock)
    standin.sessions.clear()  # DingTalk forgot the session
    await adapter.send(msg("x", reply_handle=handle))
    assert [s.channel for s in standin.sent] == ["openapi"]


async def test_token_is_cached_and_refreshed_before_expiry(make_adapter: MakeAdapter, standin: StandIn, clock) -> None:
    adapter = make_adapter()
    await adapter.send(msg("a"))
    await adapter.send(msg("b"))
    assert standin.token_fetches == 1
    clock.advance(seconds=7200 - 310)  # still fresh
    await adapter.send(msg("b2"))
    assert standin.token_fetches == 1
    clock.advance(seconds=20)  # under five minutes left: refreshed before it expires
    await adapter.send(msg("c"))
    assert standin.token_fetches == 2
    assert [s.text for s in standin.sent] == ["a", "b", "b2", "c"]


async def test_token_is_refreshed_on_auth_error(make_adapter: MakeAdapter, standin: StandIn) -> None:
    adapter = make_adapter()
    await adapter.send(msg("a"))
    standin.revoke_tokens()
    await adapter.send(msg("b"))
    assert standin.token_fetches == 2
    assert [s.text for s in standin.sent] == ["a", "b"]


async def test_markdown_via_openapi(make_adapter: MakeAdapter, standin: StandIn) -> None:
    adapter = make_adapter()
    await adapter.send(msg("**周报**\n- 3 open", format=Format.MARKDOWN, title="周报"))
    [sent] = standin.sent
    assert sent.body["msgKey"] == "sampleMarkdown"
    assert json.loads(sent.body["msgParam"]) == {"title": "周报", "text": "**周报**  \n- 3 open"}


async def test_mention_all_goes_through_the_signed_custom_robot(make_adapter: MakeAdapter, standin: StandIn) -> None:
    adapter = make_adapter()
    await adapter.send(msg("#2 逾期", mention_all=True, mentions=(BOB,)))
    [sent] = standin.sent
    assert sent.channel == "webhook"
    assert sent.at_all and sent.at_user_ids == {"bob01"}
    assert "@bob01" in sent.text and "@所有人" in sent.text
    assert standin.webhook_rejections == []


async def test_custom_robot_only_posts_into_its_own_group(make_adapter: MakeAdapter, standin: StandIn) -> None:
    adapter = make_adapter(webhook_chat_id="cidOtherGroup")
    await adapter.send(msg("#2 逾期", mention_all=True))
    assert [s.channel for s in standin.sent] == ["openapi"]


async def test_wrong_webhook_secret_is_not_retried(make_adapter: MakeAdapter, standin: StandIn) -> None:
    adapter = make_adapter(webhook_secret="SECwrong")
    with pytest.raises(DeliveryError) as err:
        await adapter.send(msg("x", mention_all=True))
    assert not err.value.retryable and "310000" in str(err.value)
    assert standin.webhook_rejections == ["sign"]


async def test_custom_robot_quota_and_the_130101_block(make_adapter: MakeAdapter, standin: StandIn, clock) -> None:
    adapter = make_adapter()
    for i in range(20):
        await adapter.send(msg(f"ping {i}", mention_all=True))
    # The adapter keeps under 20/min itself: the 21st waits, nothing reaches DingTalk.
    with pytest.raises(DeliveryError) as err:
        await adapter.send(msg("ping 20", mention_all=True))
    assert err.value.retryable and 0 < (err.value.retry_after or 0) <= 60
    assert len(standin.of("webhook")) == 20
    # If DingTalk blocks anyway (another sender on the same robot), the message waits 10 minutes.
    clock.advance(minutes=1)
    standin.webhook_failures.append({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
    with pytest.raises(DeliveryError) as err:
        await adapter.send(msg("blocked", mention_all=True))
    assert err.value.retryable and err.value.retry_after == 600
    clock.advance(minutes=5)
    with pytest.raises(DeliveryError) as err:
        await adapter.send(msg("blocked", mention_all=True))
    assert err.value.retryable and err.value.retry_after == pytest.approx(300)
    clock.advance(minutes=5)
    await adapter.send(msg("blocked", mention_all=True))
    assert standin.of("webhook")[-1].text.startswith("blocked")


@pytest.mark.parametrize(
    ("status", "body", "retryable"),
    [
        (500, {"code": "ServiceUnavailable", "message": "busy"}, True),
        (429, {"code": "Throttling", "message": "qps"}, True),
        (403, {"code": "Forbidden.AccessDenied.QpsLimitForApi", "message": "qps"}, True),
        (400, {"code": "param.invalid", "message": "bad"}, False),
        (403, {"code": "Forbidden.AccessDenied.AccessTokenPermissionDenied", "message": "no perm"}, False),
    ],
)
async def test_openapi_errors_map_to_delivery_errors(
    make_adapter: MakeAdapter, standin: StandIn, status: int, body: dict, retryable: bool
) -> None:
    adapter = make_adapter()
    standin.openapi_failures.append((status, body))
    with pytest.raises(DeliveryError) as err:
        await adapter.send(msg("x"))
    assert err.value.retryable is retryable


async def test_network_error_is_retryable(make_adapter: MakeAdapter, standin: StandIn) -> None:
    adapter = make_adapter()
    await standin.close()
    with pytest.raises(DeliveryError) as err:
        await adapter.send(msg("x"))
    assert err.value.retryable


async def test_risk_with_buttons_becomes_a_card_and_a_click_updates_it(
    make_adapter: MakeAdapter, standin: StandIn
) -> None:
    adapter = make_adapter(card_template_id="tpl-123.schema")
    buttons = (Button("ack", 12), Button("resolve", 12), Button("snooze", 12))
    await adapter.send(msg("#12 库存低 负责人 @Bob", mentions=(BOB,), buttons=buttons, title="风险 #12"))
    card = standin.card()
    assert card.chat == CHAT
    assert card.body["cardTemplateId"] == "tpl-123.schema"
    assert card.body["callbackType"] == "STREAM"
    assert card.body["imGroupOpenDeliverModel"] == {"robotCode": "dingappkey123", "atUserIds": {"bob01": "Bob"}}
    params = card.body["cardData"]["cardParamMap"]
    assert params["risk"] == "12" and params["title"] == "风险 #12" and params["show_snooze"] == "true"
    assert "@bob01" not in params["markdown"] and "Bob" in params["markdown"]
    handle = {"kind": "card", "out_track_id": card.body["outTrackId"]}
    await adapter.send(msg("#12 已解决", updates_card=True, toast="已解决", reply_handle=handle))
    [update] = standin.of("card_update")
    assert update.body["outTrackId"] == card.body["outTrackId"]
    assert update.body["cardData"]["cardParamMap"]["has_actions"] == "false"


async def test_urgent_card_pings_everyone(make_adapter: MakeAdapter, standin: StandIn) -> None:
    adapter = make_adapter(card_template_id="tpl")
    await adapter.send(msg("#3 紧急", mention_all=True, buttons=(Button("ack", 3),)))
    assert standin.card().at_all


async def test_check_reports_credentials(make_adapter: MakeAdapter, standin: StandIn) -> None:
    assert await make_adapter().check() == []
    problems = await make_adapter(client_secret="wrong").check()
    assert any("access token" in p and "invalidClientIdOrSecret" in p for p in problems)
    assert any("Stream gateway" in p for p in problems)
    problems = await make_adapter(webhook_url="", transport="http").check()
    assert any("public_url" in p for p in problems)
    assert any("custom robot" in p for p in problems)


async def test_network_errors_never_show_the_webhook_url_or_its_token(
    make_adapter: MakeAdapter, standin: StandIn, clock
) -> None:
    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(str(request.url))  # a redirect loop: TooManyRedirects

    app = web.Application()
    app.router.add_post("/robot/send", loop)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    query = "?access_token=TOKSECRET&timestamp=1&sign=SIGNSECRET&session=SESSIONSECRET"
    urls = [
        str(server.make_url("/robot/send")) + query,
        "http://127.0.0.1:99999/robot/send" + query,  # an invalid URL: its text is the URL itself
    ]
    adapter = make_adapter()
    try:
        for url in urls:
            handle = {**handle_from(standin, clock), "session_webhook": url}
            with pytest.raises(DeliveryError) as info:
                await adapter.send(msg(reply_handle=handle))
            text = str(info.value)
            assert info.value.retryable and "network error" in text
            for secret in ("TOKSECRET", "SIGNSECRET", "SESSIONSECRET", "?", "access_token"):
                assert secret not in text, text
            assert info.value.__cause__ is None and info.value.__suppress_context__
    finally:
        await server.close()
