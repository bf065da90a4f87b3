"""The quarterly evaluation (季度互保工作评估): a survey of the members in the chat.

``/survey start [title]`` (``/评估 开始``; leader, admin) posts the questionnaire — 责任是否清晰,
沟通是否高效, 风险防控是否有效, 1–5 each, plus an optional comment. Members answer with the card's
buttons where the platform has cards (one score per click, answered by a toast only the clicker
sees) and always with ``/survey answer 4 5 3 [comment]``. One answer per member, changeable until
the survey closes: ``/survey end`` (leader, admin), or ``[survey] auto_close`` (7 days) after the
start on a database timer; ``[survey] remind_before`` (1 day) before that, the members who have
not answered are pinged once. ``/survey`` shows the state: the leader and admins see how many have
not answered (a count, never who), members whether they have.

Results are anonymous: per question the number of answers, the average and the distribution of
scores, and the comments in an order that says nothing about who wrote them. Answers are kept
per member only so that each has one; no report names anyone. Starting, answering (without the
scores) and closing are audited events (``survey.*``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from hubao.bot.config import Config
from hubao.bot.events import Button, Format, Lane, OutboundMessage, User
from hubao.bot.i18n import Catalog
from hubao.bot.router import CommandContext, Role, Router, UsageError
from hubao.handlers.common import MAX_CONTENT, audit, group_id, group_zone, local_time
from hubao.handlers.quarter_period import quarter_label, quarter_period
from hubao.handlers.reports import catalog_for, clip
from hubao.scheduler import timers
from hubao.storage import repo
from hubao.storage import routine as store
from hubao.storage.models import Group, Survey, SurveyAnswer, Timer
from hubao.storage.tx import Tx

Ctx = CommandContext[Tx]
QUESTIONS = ("q1", "q2", "q3")  # 责任是否清晰, 沟通是否高效, 风险防控是否有效
SCORES = range(1, 6)
COMMENT_MAX = 300
COMMENTS_SHOWN = 20
_SURVEY_REF = re.compile(r"^[Ss](\d{1,6})$")
_ONE_SCORE = re.compile(r"^[Qq](\d)[=＝:：](\d)$")


@dataclass
class QuestionResult:
    key: str
    counts: dict[int, int] = field(default_factory=lambda: dict.fromkeys(SCORES, 0))

    @property
    def answers(self) -> int:
        return sum(self.counts.values())

    @property
    def average(self) -> float | None:
        return sum(s * n for s, n in self.counts.items()) / self.answers if self.answers else None


@dataclass
class SurveyResults:
    """The anonymous aggregates of one survey."""

    survey: Survey
    respondents: int
    members: int
    questions: list[QuestionResult]
    comments: list[str]


def aggregate(survey: Survey, answers: Sequence[SurveyAnswer], members: int) -> SurveyResults:
    questions = [QuestionResult(key) for key in QUESTIONS]
    for answer in answers:
        for result in questions:
            score = getattr(answer, result.key)
            if score in result.counts:
                result.counts[score] += 1
    # Sorted by their text: the order of answering (who answered when) is not kept.
    comments = sorted(a.comment for a in answers if a.comment)
    return SurveyResults(survey, len(answers), max(members, len(answers)), questions, comments)


async def results_of(session: AsyncSession, survey: Survey) -> SurveyResults:
    answers = await store.survey_answers(session, survey.id or 0)
    members = len(await repo.members(session, survey.group_id))
    return aggregate(survey, answers, members)


def average_text(value: float | None, t: Catalog) -> str:
    return t("none") if value is None else f"{value:.1f}"


def question_line(result: QuestionResult, t: Catalog) -> str:
    spread = " ".join(t("survey.spread", score=s, count=result.counts[s]) for s in sorted(SCORES, reverse=True))
    return t("survey.result_line", question=t(f"survey.{result.key}"), average=average_text(result.average, t),
             answers=result.answers, spread=spread)  # fmt: skip


def render_results(results: SurveyResults, t: Catalog, zone: object, *, comments: bool = True) -> list[str]:
    survey = results.survey
    end = survey.closed_at or survey.closes_at
    lines = [
        t("survey.results_time", start=local_time(survey.started_at, zone), end=local_time(end, zone),  # type: ignore[arg-type]
          answered=results.respondents, members=results.members),
        *(question_line(q, t) for q in results.questions),
    ]  # fmt: skip
    if comments and results.comments:
        lines += ["", t("survey.comments_title")]
        lines += [f"- {clip(c, 120)}" for c in results.comments[:COMMENTS_SHOWN]]
        if len(results.comments) > COMMENTS_SHOWN:
            lines.append(t("summary.more", count=len(results.comments) - COMMENTS_SHOWN))
    return lines


def questionnaire_buttons(survey: Survey, t: Catalog) -> tuple[Button, ...]:
    return tuple(
        Button("survey", Button.survey_code(survey.number, index, score),
               t("survey.button", question=t(f"survey.{key}_short"), score=score))
        for index, key in enumerate(QUESTIONS, start=1)
        for score in SCORES
    )  # fmt: skip


async def close_survey(
    session: AsyncSession, survey: Survey, group: Group, config: Config, now: datetime, by: str
) -> OutboundMessage:
    """Close ``survey`` (``by`` = "system" when automatic) and return the results to post."""
    survey.closed_at, survey.closed_by, survey.open_slot = now, by, None
    session.add(survey)
    await session.flush()
    if by != "system":  # closed by hand; the close timer itself deletes its row when it fires
        await timers.cancel(session, _key(survey, "close"))
    await timers.cancel(session, _key(survey, "remind"))
    results = await results_of(session, survey)
    await repo.add_event(session, group_id=survey.group_id, risk_id=None, actor_id=by, kind="survey.closed", at=now,
                         data={"survey": survey.number, "answered": results.respondents,
                               "members": results.members})  # fmt: skip
    t = catalog_for(group, config)
    lines = render_results(results, t, group_zone(group, config))
    if by == "system":
        lines.insert(0, t("survey.closed_auto"))
    return OutboundMessage(
        platform=group.platform, chat_id=group.chat_id, text="\n".join(lines),
        title=t("survey.results_title", title=survey.title), format=Format.MARKDOWN, lane=Lane.DIGEST,
    )  # fmt: skip


def router(config: Config) -> Router:
    r = Router()

    @r.command("survey", aliases=["评估"], roles=Role.MEMBER, usage="/survey [start|answer|end]",
               summary="help.survey")  # fmt: skip
    async def status(ctx: Ctx) -> None:
        if ctx.args.text.strip():
            raise UsageError(ctx.t("survey.subcommands"))
        session = ctx.store.session
        gid = group_id(ctx.group)
        zone = group_zone(ctx.group, config)
        survey = await store.open_survey(session, gid)
        if survey is None:
            latest = await store.latest_closed_survey(session, gid)
            if latest is None:
                ctx.reply(ctx.t("survey.none"))
                return
            lines = render_results(await results_of(session, latest), ctx.t, zone)
            ctx.reply("\n".join(lines), title=ctx.t("survey.results_title", title=latest.title), format=Format.MARKDOWN)
            return
        answers = await store.survey_answers(session, survey.id or 0)
        lines = [ctx.t("survey.status", title=survey.title, until=local_time(survey.closes_at, zone))]
        if ctx.roles & (Role.LEADER | Role.ADMIN):
            members = {m.user_id for m in await repo.members(session, gid)}
            waiting = len(members - {a.user_id for a in answers})
            lines.append(ctx.t("survey.status_leader", answered=len(answers), waiting=waiting))
        else:
            mine = any(a.user_id == ctx.event.sender.id for a in answers)
            lines.append(ctx.t("survey.status_mine_done" if mine else "survey.status_mine_open"))
        ctx.reply("\n".join(lines))

    @r.command(
        "survey start",
        aliases=["评估 start", "评估 开始", "评估 发起"],
        roles=Role.LEADER | Role.ADMIN,
        usage="/survey start [title]",
        summary="help.survey_start",
    )
    async def start(ctx: Ctx) -> None:
        session = ctx.store.session
        gid = group_id(ctx.group)
        zone = group_zone(ctx.group, config)
        now = ctx.clock.now()
        current = await store.open_survey(session, gid)
        if current is not None:
            ctx.reply(ctx.t("survey.already_open", title=current.title, until=local_time(current.closes_at, zone)))
            return
        title = clip(ctx.args.text, 100) or ctx.t("survey.default_title",
                                                  quarter=quarter_label(quarter_period(now, zone), zone))  # fmt: skip
        survey = Survey(group_id=gid, number=await store.next_number(session, Survey, gid), title=title,
                        started_by=ctx.event.sender.id, started_at=now, closes_at=now + config.survey.auto_close,
                        open_slot=gid)  # fmt: skip
        try:
            async with session.begin_nested():
                session.add(survey)
                await session.flush()
        except IntegrityError:  # another start won the race
            ctx.reply(ctx.t("survey.already_open", title=title, until=local_time(now, zone)))
            return
        await timers.schedule(session, kind=SURVEY_CLOSE, key=_key(survey, "close"), due_at=survey.closes_at,
                              now=now, group_id=gid, ref=str(survey.id))  # fmt: skip
        remind_at = survey.closes_at - config.survey.remind_before
        if remind_at > now:
            await timers.schedule(session, kind=SURVEY_REMIND, key=_key(survey, "remind"), due_at=remind_at, now=now,
                                  group_id=gid, ref=str(survey.id))  # fmt: skip
        await audit(ctx, "survey.started", {"survey": survey.number, "title": title,
                                             "closes_at": survey.closes_at.isoformat()})  # fmt: skip
        text = ctx.t("survey.questionnaire", until=local_time(survey.closes_at, zone), n=survey.number)
        ctx.reply(text, title=ctx.t("survey.title", title=title), mention_all=True,
                  buttons=questionnaire_buttons(survey, ctx.t))  # fmt: skip

    @r.command(
        "survey answer",
        aliases=["评估 answer", "评估 回答", "评估 作答"],
        roles=Role.MEMBER,
        usage="/survey answer <1-5 1-5 1-5> [comment]",
        summary="help.survey_answer",
    )
    async def answer(ctx: Ctx) -> None:
        session = ctx.store.session
        survey = await store.open_survey(session, group_id(ctx.group), for_update=True)
        words = list(ctx.args.words)
        named = _SURVEY_REF.match(words[0]) if words else None
        if named:
            words = words[1:]
        if survey is None or (named and int(named.group(1)) != survey.number):
            ctx.reply(ctx.t("survey.not_open"))
            return
        scores, comment = _read_scores(ctx, words)
        now = ctx.clock.now()
        mine = next((a for a in await store.survey_answers(session, survey.id or 0)
                     if a.user_id == ctx.event.sender.id), None)  # fmt: skip
        changed = mine is not None
        if mine is None:
            mine = SurveyAnswer(survey_id=survey.id or 0, user_id=ctx.event.sender.id, answered_at=now)
        for key, score in scores.items():
            setattr(mine, key, score)
        if len(scores) == len(QUESTIONS):  # a whole answer replaces the comment too
            mine.comment = comment
        mine.answered_at = now
        session.add(mine)
        await session.flush()
        # Audited without the scores: the trail shows who answered, never what.
        await audit(ctx, "survey.answered", {"survey": survey.number, "changed": changed})
        zone = group_zone(ctx.group, config)
        if ctx.event.button is not None:  # a click is answered by a toast only the clicker sees
            ((key, score),) = scores.items()
            ctx.reply(ctx.t("survey.scored", question=ctx.t(f"survey.{key}"), score=score))
            return
        ctx.reply(ctx.t("survey.changed" if changed else "survey.thanks", until=local_time(survey.closes_at, zone)))

    @r.command(
        "survey end",
        aliases=["评估 end", "评估 结束"],
        roles=Role.LEADER | Role.ADMIN,
        usage="/survey end",
        summary="help.survey_end",
    )
    async def end(ctx: Ctx) -> None:
        session = ctx.store.session
        survey = await store.open_survey(session, group_id(ctx.group), for_update=True)
        if survey is None:
            ctx.reply(ctx.t("survey.not_open"))
            return
        group = await session.get(Group, group_id(ctx.group))
        assert group is not None
        message = await close_survey(session, survey, group, config, ctx.clock.now(), ctx.event.sender.id)
        ctx.reply(message.text, title=message.title, format=Format.MARKDOWN)

    return r


def _read_scores(ctx: Ctx, words: list[str]) -> tuple[dict[str, int], str]:
    """``4 5 3 [comment]`` (every question) or ``q2=5`` (one, as a button sends it)."""
    if words and (m := _ONE_SCORE.match(words[0])) and len(words) == 1:
        question, score = int(m.group(1)), int(m.group(2))
        if not 1 <= question <= len(QUESTIONS) or score not in SCORES:
            raise UsageError(ctx.t("survey.bad_scores"))
        return {QUESTIONS[question - 1]: score}, ""
    head = words[: len(QUESTIONS)]
    if len(head) < len(QUESTIONS) or not all(w.isascii() and w.isdigit() and int(w) in SCORES for w in head):
        raise UsageError(ctx.t("survey.bad_scores"))
    comment = " ".join(words[len(QUESTIONS):]).strip()
    if len(comment) > COMMENT_MAX:
        raise UsageError(ctx.t("risk.too_long", max=COMMENT_MAX))
    return dict(zip(QUESTIONS, (int(w) for w in head), strict=True)), comment[:MAX_CONTENT]


# --- timers: the reminder ping and the automatic close ------------------------------------

SURVEY_CLOSE = "survey.close"
SURVEY_REMIND = "survey.remind"


def _key(survey: Survey, what: str) -> str:
    return f"survey:{survey.id}:{what}"


async def remind(session: AsyncSession, survey_id: int, config: Config) -> list[OutboundMessage]:
    """Ping the members who have not answered (once, before the survey closes)."""
    survey = await session.get(Survey, survey_id)
    if survey is None or survey.open_slot is None:
        return []
    group = await session.get(Group, survey.group_id)
    if group is None:
        return []
    answered = {a.user_id for a in await store.survey_answers(session, survey_id)}
    waiting = [User(m.user_id, m.name) for m in await repo.members(session, survey.group_id)
               if m.user_id not in answered]  # fmt: skip
    if not waiting:
        return []
    t = catalog_for(group, config)
    text = t("survey.reminder", title=survey.title, until=local_time(survey.closes_at, group_zone(group, config)))
    return [OutboundMessage(platform=group.platform, chat_id=group.chat_id, text=text, mentions=tuple(waiting))]


def register_timers(sweep: timers.TimerSweep, config: Config) -> None:
    """A survey pings who has not answered ``remind_before`` its close, and closes ``auto_close`` after start."""

    async def close(session: AsyncSession, timer: Timer, now: datetime) -> datetime | None:
        survey = await session.get(Survey, int(timer.ref), with_for_update=True)
        if survey is not None and survey.open_slot is not None:
            group = await session.get(Group, survey.group_id)
            if group is not None:
                message = await close_survey(session, survey, group, config, now, "system")
                await timers.queue_messages(session, timer, [message], now)
        return None

    async def ping(session: AsyncSession, timer: Timer, now: datetime) -> datetime | None:
        await timers.queue_messages(session, timer, await remind(session, int(timer.ref), config), now)
        return None

    sweep.register(SURVEY_CLOSE, close)
    sweep.register(SURVEY_REMIND, ping)
