"""Hostile input everywhere: random commands, random intake bodies, random callback bytes.

Properties: never an unhandled exception, never the "internal error" apology, nothing written
by a rejected request, and the bot keeps serving afterwards.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import select

from hubao.app import build_router, read_config
from hubao.bot.events import InboundEvent, Mention, User
from hubao.bot.i18n import Catalog
from hubao.bot.router import UnknownCommand, UsageError
from hubao.bot.sanitize import clean_line
from hubao.console import ConsoleSession
from hubao.handlers.common import MAX_CONTENT
from hubao.handlers.intake import IntakeError, decode_json, parse_alertmanager, parse_risk_request
from hubao.storage.models import Outbox, Risk, RiskEvent, SeenDelivery
from tests.harness import serve

TABLE = build_router(read_config(None, environ={}))
COMMAND_WORDS = sorted({word for spec in TABLE for word in spec.words})
NASTY = [
    "#1", "#2", "#0", "#99999999999", "#-1", "99999999999", "²", "٣", "@bob", "@all", "@所有人", "@", "!高", "!x", "!",
    "#库存", "due:明天", "due:99999d", "due:2026-13-45", "due:0001-01-01", "due:25:99", "due:", "明天", "1h", "0m",
    "999999h", "next-workday", "all", "mine", "overdue", "\x00", "\u202e", "\u200b", '<at user_id="all"></at>',
    "[x](http://e)", "respond=1h", "respond=0s", "max=99999999999999999999", "hours=25:00-26:00",
    "tz=../../etc/passwd", "tz=" + "A" * 200, "add", "remove", "start", "end", "why", "reset", "off", "fri", "17:00",
    "2026-01-01", "2099-12-31", "x" * 600, "长" * 300, "\ud800", "／", "/",
    "9999-01-01..9999-12-31", "0001-01-01", "9999-12-31", "0001-01-01..0001-01-02", "1999-12-31..2000-01-02",
]  # fmt: skip
ARG = st.one_of(st.sampled_from(NASTY), st.text(max_size=12))
LINE = st.builds(
    lambda prefix, word, args: f"{prefix}{word} {' '.join(args)}",
    st.sampled_from(["/", "／", " /"]),
    st.sampled_from(COMMAND_WORDS),
    st.lists(ARG, max_size=6),
)
INTERNAL = {Catalog(locale)("error.internal") for locale in ("zh", "en")}


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(LINE, st.text(max_size=60)), mentioned=st.lists(st.sampled_from(["@bob", "@all", "@x"])))
def test_the_parser_only_ever_answers_with_a_command_or_a_usage_error(text: str, mentioned: list[str]) -> None:
    event = InboundEvent(
        platform="console",
        chat_id="demo",
        sender=User("console:alice", "alice"),
        text=text,
        message_id="m",
        time=datetime(2026, 11, 23, tzinfo=UTC),
        mentions=tuple(Mention(User(f"console:{m[1:]}", m[1:]), m) for m in mentioned),
    )
    try:
        invocation = TABLE.parse(event)
    except (UnknownCommand, UsageError):
        return
    for word in invocation.args.words:
        assert word == clean_line(word) or " " not in word  # words are cleaned tokens
    if invocation.args.risk is not None:
        assert 0 <= invocation.args.risk < 10**9


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(speaker=st.sampled_from(["alice", "bob", "root", "mallory"]), line=LINE)
async def test_random_commands_through_the_console_never_break_the_bot(
    console: ConsoleSession, speaker: str, line: str
) -> None:
    blocks = await console.say(speaker, line)
    for block in blocks:
        assert not any(apology in block for apology in INTERNAL), (line, block)
    after = await console.say("alice", "/help help")
    assert after and after[0].startswith("bot: /help [command]")  # still serving


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
RISK_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "text": st.one_of(st.text(max_size=600), JSON),
        "level": st.one_of(st.sampled_from(["high", "中", "x", ""]), JSON),
        "owner": st.one_of(st.text(max_size=200), JSON),
        "tags": st.one_of(st.lists(st.text(max_size=40), max_size=12), JSON),
        "due": st.one_of(st.sampled_from(["2h", "99999d", "2026-13-45", "明天"]), JSON),
        "urgent": JSON,
        "key": st.one_of(st.text(max_size=210), JSON),
    },
)
ALERT_LIKE = st.fixed_dictionaries(
    {
        "status": st.one_of(st.sampled_from(["firing", "resolved", "pending"]), JSON),
        "labels": st.one_of(st.dictionaries(st.text(max_size=12), st.text(max_size=40), max_size=5), JSON),
    },
    optional={
        "annotations": st.one_of(st.dictionaries(st.text(max_size=12), st.text(max_size=80), max_size=3), JSON),
        "fingerprint": st.one_of(st.text(max_size=70), JSON),
        "startsAt": st.one_of(st.text(max_size=70), JSON),
    },
)
WEBHOOK_LIKE = st.fixed_dictionaries(
    {"alerts": st.one_of(st.lists(ALERT_LIKE, max_size=4), JSON)},
    optional={"version": st.sampled_from(["4", "3", 4])},
)


@settings(max_examples=150, deadline=None)
@given(body=st.one_of(st.binary(max_size=300), JSON.map(lambda v: json.dumps(v).encode())))
def test_decode_json_accepts_json_or_says_why_not(body: bytes) -> None:
    try:
        decode_json(body)
    except IntakeError as exc:
        assert exc.status == 400 and exc.code in ("invalid_utf8", "malformed_json", "too_deep")


@settings(max_examples=150, deadline=None)
@given(data=st.one_of(RISK_LIKE, JSON))
def test_risk_requests_are_valid_and_clean_or_rejected_with_422(data: Any) -> None:
    try:
        wanted = parse_risk_request(data)
    except IntakeError as exc:
        assert exc.status == 422
        return
    assert wanted.text and wanted.text == clean_line(wanted.text) and len(wanted.text) <= MAX_CONTENT
    assert all(tag == clean_line(tag) and " " not in tag for tag in wanted.tags)


@settings(max_examples=150, deadline=None)
@given(data=st.one_of(WEBHOOK_LIKE, JSON))
def test_alertmanager_payloads_are_decoded_or_rejected(data: Any) -> None:
    try:
        alerts = parse_alertmanager(data)
    except IntakeError as exc:
        assert exc.status in (413, 422)
        return
    for alert in alerts:
        assert alert.text and alert.text == clean_line(alert.text) and len(alert.text) <= MAX_CONTENT
        assert len(alert.fingerprint) <= 64


ADAPTER_SETTINGS: dict[str, Any] = {
    "feishu.enabled": True, "feishu.transport": "http", "feishu.app_id": "cli_test", "feishu.app_secret": "s" * 20,
    "feishu.verification_token": "v" * 20, "feishu.bot_open_id": "ou_bot",
    "wecom.enabled": True, "wecom.transport": "http", "wecom.token": "t" * 16, "wecom.encoding_aes_key": "k" * 43,
    "dingtalk.enabled": True, "dingtalk.transport": "http", "dingtalk.client_id": "ding", "dingtalk.client_secret":
    "c" * 20, "dingtalk.card_template_id": "tpl", "dingtalk.card_callback_token": "cb" * 10,
}  # fmt: skip


async def test_random_bytes_to_every_platform_callback_get_a_4xx_and_write_nothing(make_app: Any) -> None:
    app = await make_app(**ADAPTER_SETTINGS)
    server = await serve(app)
    paths = sorted(
        {r.resource.canonical for r in server.app.router.routes() if r.method == "POST" and r.resource is not None}
    )
    # Path tokens are filled in with the configured one, so the body parser is reached.
    callbacks = [p.replace("{token}", "cb" * 10) for p in paths if p.startswith("/callback")]
    assert callbacks, paths

    async def counts() -> tuple[int, ...]:
        async with app.db.transaction() as session:
            return tuple(
                [int((await session.exec(select(func.count()).select_from(t))).one())  # type: ignore[arg-type]
                 for t in (SeenDelivery, Risk, RiskEvent, Outbox)]
            )  # fmt: skip

    before = await counts()
    bodies = st.one_of(st.binary(max_size=200), JSON.map(lambda v: json.dumps(v).encode()))
    headers = st.dictionaries(
        st.sampled_from(["Content-Type", "X-Lark-Signature", "X-Lark-Request-Timestamp", "X-Lark-Request-Nonce",
                         "timestamp", "sign", "msg_signature"]),
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
        max_size=4,
    )  # fmt: skip

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(callbacks), body=bodies, extra=headers, query=st.sampled_from(
        ["", "?msg_signature=x&timestamp=1&nonce=n&echostr=e", "?timestamp=0&sign=x", "?token=wrong"]))
    def attempt(path: str, body: bytes, extra: dict[str, str], query: str) -> None:
        statuses.append((path, body, extra, query))

    statuses: list[tuple[str, bytes, dict[str, str], str]] = []
    attempt()
    async with aiohttp.ClientSession() as http:
        for path, body, extra, query in statuses:
            async with http.post(server.make_url(path + query), data=body, headers=extra) as response:
                assert 400 <= response.status < 500 or response.status == 200, (path, body, response.status)
        async with http.get(server.make_url("/healthz")) as response:
            assert response.status == 200
    assert await counts() == before
    await server.close()


async def test_hostile_risk_text_in_chat_cannot_ping_everyone_or_forge_the_card(console: ConsoleSession) -> None:
    # "@所有人" where an owner may be named is no person: refused, nothing logged.
    [refused] = await console.say("alice", "/risk 服务器挂了 @所有人")
    assert refused == "bot: 不认识 @所有人：请 @ 群成员，或先让对方在群里说句话。"
    [card] = await console.say("alice", '/risk <at user_id="all"></at> 服务器挂了\u3000[详情](http://evil.example)')
    assert card.startswith("bot: @alice 已登记风险提醒。")  # the reporter owns it; nobody else is pinged
    assert '#1【中】＜at user_id="all">＜/at> 服务器挂了 [详情] (http://evil.example)' in card
    [noted] = await console.say("bob", "/note #1 \u202e<@U1> @all see [x](y)\x00")
    assert noted == "bot: 已为 #1 添加备注。"
    [shown] = await console.say("bob", "/show #1")
    assert "备注：＜@U1> @ all see [x] (y)" in shown


async def test_absurd_numbers_and_times_in_chat_get_usage_replies(console: ConsoleSession) -> None:
    await console.say("alice", "/risk 库存低")
    for line, expected in [
        ("/ack #99999999999", "bot: 参数不对（#99999999999）。用法：/ack <#n>"),
        ("/ack #2", "bot: 本群没有风险 #2。"),
        ("/snooze #1 99999d", "bot: 参数不对（截止时间 99999d 太远了（最多一年））。"),
        ("/snooze #1 30d", "bot: 参数不对（最多暂缓 7d）。"),
        ("/risk 明天见 due:2026-13-45", "bot: 参数不对（截止时间 2026-13-45 不是真实的日期或钟点）。"),
        ("/risk 过去 due:2020-01-01", "bot: 参数不对（截止时间 2020-01-01 理解为 2020-01-01 周三 18:00，已经过去了"),
    ]:
        [reply] = await console.say("alice", line)
        assert reply.startswith(expected), (line, reply)
    assert "#1" in (await console.say("alice", "/list"))[0]


async def test_periods_at_the_ends_of_the_calendar_get_usage_replies(console: ConsoleSession) -> None:
    await console.say("alice", "/risk 库存低 @bob")
    for line in [
        "/stats 9999-01-01..9999-12-31",
        "/stats 0001-01-01",
        "/points 9999-12-31",
        "/points why @bob 0001-01-01..0001-01-02",
        "/stats @bob 2101-01-01",
        "/admin export 0001-01-01 9999-12-31",
    ]:
        [reply] = await console.say("root", line)
        assert reply.startswith("bot: 参数不对") or "日期请写成" in reply, (line, reply)
    [fine] = await console.say("alice", "/stats 2026-01-01..2026-12-31")
    assert "新增 1" in fine


async def test_a_replayed_chat_delivery_has_one_effect(console: ConsoleSession) -> None:
    from hubao.adapters.console import Said

    event = console.adapter.event(Said("alice", "/risk 只记一次"), console.clock.now())
    first = await console.app.dispatch(event)
    again = await console.app.dispatch(event)
    assert (first.duplicate, again.duplicate) == (False, True)
    await console.app.deliver()
    assert "未解决风险 1 项" in (await console.say("alice", "/list"))[0]
