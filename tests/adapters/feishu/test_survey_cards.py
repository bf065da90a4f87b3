"""The quarterly evaluation on Feishu, end to end against the stand-in: the questionnaire is a card
with one row of score buttons per question; a click answers one question and is acknowledged by a
toast only the clicker sees (no message to the group); the results count the clicks anonymously."""

from __future__ import annotations

from typing import Any

import aiohttp

from hubao.app import App
from hubao.bot.clock import ManualClock
from hubao.bot.events import Button
from tests.harness import serve

from .standin import FeishuStandIn, card_event, message_event
from .test_scenario import CHAT, MENTIONS, HttpFeishu, build


async def test_members_answer_the_survey_by_card_buttons_over_http(
    make_app: Any, standin: FeishuStandIn, clock: ManualClock
) -> None:
    app: App
    app, _adapter = await build(make_app, standin, "http")
    server = await serve(app)
    feishu = HttpFeishu(str(server.make_url("")).rstrip("/"), clock)
    try:
        async with aiohttp.ClientSession() as http:
            for who in ("ou_bob", "ou_carol"):
                assert (await feishu.post(http, message_event(CHAT, who, "@_user_1 在", MENTIONS)))[0] == 200
            start = message_event(CHAT, "ou_lead", "@_user_1 /survey start 四季度评估", MENTIONS)
            assert (await feishu.post(http, start))[0] == 200
            await app.idle()
            await app.deliver()
            (card,) = [s for s in standin.sent_to(CHAT) if s.msg_type == "interactive"]
            rows = [e["actions"] for e in card.content["elements"] if e["tag"] == "action"]
            assert [[a["value"] for a in row] for row in rows] == [
                [{"hubao": "survey", "risk": 100 + 10 * q + s} for s in range(1, 6)] for q in (1, 2, 3)
            ]
            assert [a["text"]["content"] for a in rows[0]] == ["责任 1", "责任 2", "责任 3", "责任 4", "责任 5"]
            posted = len(standin.sent_to(CHAT))

            clicks = [("ou_bob", 1, 4), ("ou_bob", 2, 5), ("ou_bob", 3, 3), ("ou_carol", 1, 2), ("ou_bob", 1, 5)]
            for who, question, score in clicks:
                value = Button("survey", Button.survey_code(1, question, score)).to_value()
                status, answer = await feishu.post(http, card_event(CHAT, who, value, message_id=card.message_id))
                assert status == 200 and "card" not in answer  # the questionnaire stays as it is
                assert answer["toast"]["content"].startswith("已记录：")
            assert answer["toast"]["content"] == "已记录：责任是否清晰 5 分"  # bob changed his first score
            await app.idle()
            await app.deliver()
            assert len(standin.sent_to(CHAT)) == posted  # clicks post nothing to the group

            end = message_event(CHAT, "ou_lead", "@_user_1 /survey end", MENTIONS)
            assert (await feishu.post(http, end))[0] == 200
            await app.idle()
            await app.deliver()
    finally:
        await server.close()
    results = standin.sent_to(CHAT)[-1].text
    # q1: bob 5, carol 2 → 3.5; q2: bob 5; q3: bob 3. Two of three members answered.
    assert "作答 2/3 人（匿名）" in results
    assert "责任是否清晰：平均 3.5（2 份）· 5分×1 4分×0 3分×0 2分×1 1分×0" in results
    assert "沟通是否高效：平均 5.0（1 份）" in results and "风险防控是否有效：平均 3.0（1 份）" in results
    assert "Bob" not in results and "ou_bob" not in results
