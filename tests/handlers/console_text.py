"""Small helpers for the reporting scenario tests: expected console blocks, stored rows, and the
platform renderers' view of a report."""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

from sqlmodel import col, select

from hubao.adapters.dingtalk import render as dingtalk
from hubao.adapters.dingtalk.adapter import DingTalkAdapter
from hubao.adapters.feishu import render as feishu
from hubao.adapters.wecom import render as wecom
from hubao.bot.events import OutboundMessage
from hubao.console import ConsoleSession
from hubao.storage.models import Outbox


def block(*lines: str) -> str:
    """A message as the console prints it: ``bot:`` first, later lines indented (blank ones too)."""
    return "bot: " + "\n".join([lines[0], *(f"  {line}" for line in lines[1:])])


async def rows(console: ConsoleSession, model: Any) -> list[Any]:
    async with console.app.db.transaction() as session:
        return list((await session.exec(select(model))).all())


async def last_message(console: ConsoleSession, title_prefix: str) -> OutboundMessage:
    """The last queued message whose title starts with ``title_prefix``, as the adapters get it."""
    async with console.app.db.transaction() as session:
        stored = (await session.exec(select(Outbox).order_by(col(Outbox.id).desc()))).all()
    for row in stored:
        message = OutboundMessage.from_json(row.payload)
        if message.title.startswith(title_prefix):
            return message
    raise AssertionError(f"no message titled {title_prefix!r}")


def assert_renders_on_every_platform(message: OutboundMessage) -> None:
    """Feishu (post), WeCom (group robot and AI bot markdown) and DingTalk (webhook and OpenAPI
    markdown) each take ``message`` in one piece within their size limits, every line kept."""
    lines = [line for line in message.text.splitlines() if line.strip()]
    kind, content = feishu.render(message)  # raises TooLarge over the hard limit
    assert kind == "post" and len(content.encode()) <= feishu.TEXT_LIMIT
    (paragraph,) = json.loads(content)["zh_cn"]["content"]
    assert paragraph[0]["text"].splitlines() == message.text.splitlines()

    bodies = wecom.robot_bodies(message)
    assert [b["msgtype"] for b in bodies] == ["markdown"]  # one message, no split
    for text in (bodies[0]["markdown"]["content"], *wecom.aibot_markdown_pieces(message, with_mentions=True)):
        assert len(text.encode()) <= wecom.MARKDOWN_LIMIT
        assert text.splitlines()[1:] == message.text.splitlines()  # the title line, then every line

    webhook = dingtalk.webhook_body(message)["markdown"]
    openapi = json.loads(dingtalk.openapi_body(message, "robot", "cid")["msgParam"])
    for text in (webhook["text"], openapi["text"]):
        assert len(text.encode()) <= DingTalkAdapter.max_text_bytes  # sent whole, never split
        assert [line.rstrip() for line in text.splitlines() if line.strip()] == [line.rstrip() for line in lines]


def dingtalk_hard_breaks(message: OutboundMessage) -> bool:
    """DingTalk markdown joins lines split by a single newline; a line break shows only after a
    blank line or two trailing spaces. True when every line of the rendered text ends so."""
    text = dingtalk.webhook_body(message)["markdown"]["text"]
    lines = text.split("\n")
    return all(line.endswith("  ") or not line.strip() or not nxt.strip() for line, nxt in pairwise(lines))
