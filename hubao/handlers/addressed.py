"""No silence to someone who talks to the bot, and a hello when the bot joins a chat.

A message that @-mentions the bot (or comes in a direct chat) but is no command gets an answer:
when it names a colleague or reads like a reminder, the risk it would log (owner, deadline if one
is written) with the exact ``/risk …`` line to send — and, where the platform's cards can carry
it, a button that sends it in one tap; otherwise a three-line help. A chat that is not a
registered group gets the setup hint instead, as commands there do. Chatter that does not
address the bot never reaches this module (the dispatcher answers only addressed messages).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from hubao.bot.config import Config
from hubao.bot.events import RISK_LINE_MAX, Button, InboundEvent, Mention, User
from hubao.bot.router import CommandContext, Router
from hubao.bot.sanitize import clean_line
from hubao.bot.timeparse import Found, describe_moment, find_deadline
from hubao.handlers.common import MAX_CONTENT, group_id, group_zone
from hubao.handlers.risks import group_work_hours
from hubao.storage import records

# Words that make a message read like a reminder (提醒 / 注意 / 风险 / 别忘了 …).
REMINDER_WORDS = (
    "提醒", "注意", "风险", "别忘", "记得", "小心", "务必", "截止", "到期", "逾期", "尽快", "跟进", "隐患",
    "remind", "reminder", "don't forget", "dont forget", "remember", "risk", "deadline", "due", "careful",
    "watch out", "heads up", "follow up",
)  # fmt: skip
# Platforms whose cards carry a button with the /risk line itself (Feishu's card values are free
# JSON, WeCom's button keys up to 1 KB). DingTalk's fixed card template carries risk actions only;
# there the /risk line in the text is the one to send.
ONE_TAP_PLATFORMS = ("feishu", "wecom", "console")
_SPACES = re.compile(r"\s+")


def router(config: Config) -> Router:
    r = Router()

    @r.on_addressed
    async def spoken_to(ctx: CommandContext[Any]) -> None:
        t = ctx.t
        if ctx.event.kind == "joined":
            next_step = t("hello.registered" if ctx.group else "hello.setup")
            ctx.reply(t("hello.joined", name=config.bot.name) + "\n" + next_step)
            return
        if ctx.group is None:
            ctx.reply(t("error.not_setup"))
            return
        if not reads_like_a_reminder(ctx.event):
            ctx.reply(t("addressed.help", name=config.bot.name))
            return
        zone = group_zone(ctx.group, config)
        event = ctx.event if ctx.event.mentions else await _with_written_mention(ctx)
        now = ctx.clock.now()
        found = find_deadline(event.text, now, zone, work_hours=group_work_hours(ctx.group, config))
        owner = event.mentions[0].user if event.mentions else event.sender
        if owner != event.sender:  # known to the group by name, so the suggested line resolves "@name"
            await records.enrol(ctx.store, group_id(ctx.group), owner.id, owner.name, now)
        line = risk_line(event, owner, found)
        if line is None:
            ctx.reply(t("addressed.help", name=config.bot.name))
            return
        due = describe_moment(found.at, zone, t, with_year=False) if found else t("addressed.no_deadline")
        text = t("addressed.suggest", owner=owner.display, due=due, line=line)
        tap = ctx.event.platform in ONE_TAP_PLATFORMS and len(line) <= RISK_LINE_MAX
        buttons = (Button("risk", 0, t("addressed.log_button"), line),) if tap else ()
        ctx.reply(text, buttons=buttons)

    return r


def reads_like_a_reminder(event: InboundEvent) -> bool:
    """It names a colleague, or uses a reminder word."""
    if event.mentions:
        return True
    lowered = event.text.lower()
    return any(word in lowered for word in REMINDER_WORDS)


_WRITTEN_MENTION = re.compile(r"(?:^|(?<=\s))[@＠]([^\s@＠]+)")


async def _with_written_mention(ctx: CommandContext[Any]) -> InboundEvent:
    """The event with its first written ``@name`` of a group member as a mention, for platforms
    that do not list mentions (WeCom's AI bot): the same names the commands resolve."""
    roster = await records.roster(ctx.store, group_id(ctx.group))
    for match in _WRITTEN_MENTION.finditer(ctx.event.text):
        name = match.group(1)
        member = next(
            (m for m in roster.values() if m.active and name in (m.name, m.user_id, m.user_id.split(":", 1)[-1])), None
        )
        if member is not None:
            return replace(ctx.event, mentions=(Mention(User(member.user_id, member.name), match.group(0)),))
    return ctx.event


def risk_line(event: InboundEvent, owner: User, found: Found | None) -> str | None:
    """The ``/risk`` command that logs what was said: the words without the @-mentions and the
    deadline, the owner by name, the deadline as written. None when no words are left."""
    content = event.text
    for mention in event.mentions:
        content = content.replace(mention.token, " ")
    if found is not None:
        content = re.sub(re.escape(found.words).replace(r"\ ", r"\s+"), " ", content, count=1, flags=re.IGNORECASE)
    content = clean_line(_SPACES.sub(" ", content)).strip(" ,，.。:：;；!！")
    content = content.lstrip("/／")  # never a command of its own
    if not content:
        return None
    parts = ["/risk", content[:MAX_CONTENT]]
    if owner != event.sender and owner.display:
        parts.append("@" + owner.display.replace(" ", ""))
    if found is not None:
        parts.append("due:" + found.words)
    return " ".join(parts)
