"""Likelihood × impact assessment (可能性 × 影响)."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "help.assess": {
        "zh": "评估风险的可能性与影响（各1-5分）",
        "en": "assess a risk's likelihood and impact (1-5 each)",
    },
    "assess.text": {
        "zh": "可能性 {likelihood} × 影响 {impact} = {score}",
        "en": "likelihood {likelihood} × impact {impact} = {score}",
    },
    "assess.line": {"zh": "评估：{assessment}", "en": "Assessment: {assessment}"},
    "assess.done": {
        "zh": "#{number} 已重新评估：{assessment} → {level}",
        "en": "#{number} re-assessed: {assessment} → {level}",
    },
    "assess.need_both": {
        "zh": "可能性和影响都要写，例如 可能性:4 影响:5 或 P4 I5",
        "en": "give both likelihood and impact, e.g. likelihood=4 impact=5 or P4 I5",
    },
    "assess.range": {"zh": "可能性和影响都是 1 到 5 分", "en": "likelihood and impact are 1 to 5 each"},
    "assess.twice": {"zh": "可能性或影响写了两次", "en": "likelihood or impact given twice"},
    "event.assessed": {"zh": "评估", "en": "assessed it"},
    "event.assessed_detail": {
        "zh": "评估：{assessment} → {level}",
        "en": "assessed it: {assessment} → {level}",
    },
}
