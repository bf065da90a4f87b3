"""On WeCom the quarterly evaluation has no score buttons (a card holds six): the questionnaire comes
as text with the command to answer, and the command works."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select

from hubao.storage.models import SurveyAnswer
from tests.adapters.wecom.standin import WeComStandIn
from tests.adapters.wecom.test_scenario import CHAT, Transport, build, settle
from tests.harness import serve


async def test_the_questionnaire_is_text_on_wecom_and_answered_by_command(
    make_app: Any, standin: WeComStandIn
) -> None:
    app, adapter = await build(make_app, standin, "http")
    server = await serve(app)
    wecom = Transport("http", standin, adapter, str(server.make_url("/callback/wecom")))
    try:
        await wecom.deliver(standin.message("@RiskBot /survey start", sender="lead"))
        await settle(app, adapter)
        sent = json.dumps(standin.responses + standin.robot_to(CHAT), ensure_ascii=False)
        assert "/survey answer 4 5 3" in sent and "责任是否清晰" in sent
        assert "template_card" not in sent and "q1=" not in sent and "hubao_survey" not in sent
        await wecom.deliver(standin.message("@RiskBot /survey answer 4 5 3", sender="bob"))
        await settle(app, adapter)
        assert "已收到一份答卷" in json.dumps(standin.responses + standin.robot_to(CHAT), ensure_ascii=False)
    finally:
        await server.close()
    async with app.db.transaction() as session:
        (answer,) = (await session.exec(select(SurveyAnswer))).all()
    assert (answer.user_id, answer.q1, answer.q2, answer.q3) == ("wecom:bob", 4, 5, 3)
