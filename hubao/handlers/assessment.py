"""Likelihood × impact (可能性 × 影响): a risk's assessment, read from ``/risk`` and ``/assess``.

A risk may carry an assessment, 1-5 each, written ``可能性:4 影响:5``, ``P4 I5`` or
``likelihood=4 impact=5`` (full-width colons and equals signs too). Its level follows from the
configured matrix (``[assessment]``, default: score ≥ 15 高, 8-14 中, else 低) unless ``!高`` /
``!中`` / ``!低`` is given. ``/assess <#n> P3 I4`` (``/评估风险``) re-assesses an open risk; the
change is an ``assessed`` event of its timeline. Re-assessing changes the level, not the
deadlines the risk was logged with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from hubao.bot.config import AssessmentSection, Config
from hubao.bot.events import User
from hubao.bot.i18n import Catalog
from hubao.bot.router import CommandContext, Role, Router, UsageError
from hubao.handlers.common import audit, group_id, group_zone, level_label, risk_buttons, risk_summary
from hubao.storage import records
from hubao.storage.records import RiskRow
from hubao.storage.tx import Tx

Ctx = CommandContext[Tx]
SCALE = range(1, 6)
_KEYED = re.compile(r"^(可能性|likelihood|影响|impact)[:：=＝](\S+)$", re.IGNORECASE)
_SHORT = re.compile(r"^([PpIi])(\d{1,3})$")
_PAIR = re.compile(r"^[Pp](\d{1,3})[Ii×xX*]?[Ii](\d{1,3})$")
_LIKELIHOOD_WORDS = ("可能性", "likelihood", "p")


@dataclass(frozen=True, slots=True)
class Assessment:
    likelihood: int
    impact: int

    @property
    def score(self) -> int:
        return self.likelihood * self.impact


class AssessmentError(ValueError):
    """Written as an assessment but not a valid one; the message is a catalogue key."""


def take_assessment(words: Sequence[str]) -> tuple[Assessment | None, tuple[str, ...]]:
    """The assessment written among ``words`` and the words left over.

    Keyed forms (``可能性:4``) must come as a pair and in range, else :class:`AssessmentError`.
    The short form counts only as a pair (``P4 I5`` or ``P4I5``): a lone ``P1`` in a title stays
    text, but a pair out of range is an error.
    """
    keyed: dict[str, str] = {}
    short: dict[str, tuple[int, str]] = {}
    rest: list[str] = []
    for index, word in enumerate(words):
        if m := _KEYED.match(word):
            axis = "likelihood" if m.group(1).lower() in _LIKELIHOOD_WORDS else "impact"
            if axis in keyed:
                raise AssessmentError("assess.twice")
            keyed[axis] = m.group(2)
        elif m := _PAIR.match(word):
            short.setdefault("likelihood", (index, m.group(1)))
            short.setdefault("impact", (index, m.group(2)))
            rest.append(word)
        elif m := _SHORT.match(word):
            axis = "likelihood" if m.group(1).lower() == "p" else "impact"
            short.setdefault(axis, (index, m.group(2)))
            rest.append(word)
        else:
            rest.append(word)
    if keyed:
        if len(keyed) != 2:
            raise AssessmentError("assess.need_both")
        return Assessment(_value(keyed["likelihood"]), _value(keyed["impact"])), _without(rest, set())
    if len(short) == 2:
        used = {words[i] for i, _ in short.values()}
        return Assessment(_value(short["likelihood"][1]), _value(short["impact"][1])), _without(rest, used)
    return None, tuple(words)


def _value(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) not in SCALE:
        raise AssessmentError("assess.range")
    return int(text)


def _without(words: list[str], used: set[str]) -> tuple[str, ...]:
    return tuple(w for w in words if w not in used)


def level_of(assessment: Assessment, section: AssessmentSection) -> str:
    return section.level(assessment.likelihood, assessment.impact)


def assessment_of(risk: Any) -> Assessment | None:
    """The risk's assessment, if it has one (rows and ORM objects alike)."""
    likelihood, impact = getattr(risk, "likelihood", None), getattr(risk, "impact", None)
    return Assessment(likelihood, impact) if likelihood and impact else None


def assessment_text(risk: Any, t: Catalog) -> str:
    """``可能性 4 × 影响 5 = 20`` (empty when not assessed)."""
    found = assessment_of(risk)
    if found is None:
        return ""
    return t("assess.text", likelihood=found.likelihood, impact=found.impact, score=found.score)


def short_text(risk: Any) -> str:
    """``4×5`` for boards (empty when not assessed)."""
    found = assessment_of(risk)
    return f"{found.likelihood}×{found.impact}" if found else ""


def router(config: Config) -> Router:
    r = Router()

    @r.command(
        "assess",
        aliases=["评估风险"],  # /评估 is the quarterly evaluation (/survey)
        roles=Role.OWNER | Role.REPORTER | Role.PARTNER | Role.LEADER | Role.ADMIN,
        usage="/assess <#n> <P1-5 I1-5> [!高/!中/!低]",
        summary="help.assess",
    )
    async def assess(ctx: Ctx) -> None:
        found = read_assessment(ctx)
        if found is None:
            raise UsageError(ctx.t("assess.need_both"))
        if ctx.args.words:
            raise UsageError(" ".join(ctx.args.words)[:40])
        risk = await records.risk_by_number(ctx.store, group_id(ctx.group), ctx.args.risk or 0, for_update=True)
        assert risk is not None  # the role check found it
        if risk.status == "resolved":
            ctx.reply(ctx.t("risk.already_resolved", number=risk.number))
            return
        level = ctx.args.level.value if ctx.args.level else level_of(found, config.assessment)
        before = {"likelihood": risk.likelihood, "impact": risk.impact, "level": risk.level}
        risk.likelihood, risk.impact, risk.level = found.likelihood, found.impact, level
        await records.update_risk(ctx.store, risk, "likelihood", "impact", "level")
        data = {"likelihood": found.likelihood, "impact": found.impact, "level": level,
                "level_given": ctx.args.level is not None, "before": before}  # fmt: skip
        await audit(ctx, "assessed", data, risk_id=risk.id)
        await _answer(ctx, risk, config)

    return r


async def _answer(ctx: Ctx, risk: RiskRow, config: Config) -> None:
    roster = await records.roster(ctx.store, group_id(ctx.group))
    users = {m.user_id: User(m.user_id, m.name) for m in roster.values()}
    zone = group_zone(ctx.group, config)
    headline = ctx.t(
        "assess.done", number=risk.number, assessment=assessment_text(risk, ctx.t), level=level_label(risk.level, ctx.t)
    )
    ctx.reply(headline + "\n" + risk_summary(risk, users, ctx.t, zone), buttons=risk_buttons(risk, ctx.t))


def read_assessment(ctx: CommandContext[Any]) -> Assessment | None:
    """The assessment written in a command's words; they are taken out of ``ctx.args``."""
    try:
        found, rest = take_assessment(ctx.args.words)
    except AssessmentError as exc:
        raise UsageError(ctx.t(str(exc))) from None
    if found is not None:
        ctx.args = replace(ctx.args, words=rest)
    return found


def event_text(data: dict[str, Any], t: Catalog) -> str:
    """An ``assessed`` event of the timeline."""
    likelihood, impact = int(data.get("likelihood") or 0), int(data.get("impact") or 0)
    assessment = t("assess.text", likelihood=likelihood, impact=impact, score=likelihood * impact)
    return t("event.assessed_detail", assessment=assessment, level=level_label(str(data.get("level", "medium")), t))
