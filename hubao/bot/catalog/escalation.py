"""What the bot says when it escalates a risk, and the scheduled weekly post."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    # --- respond window passed ---------------------------------------------------------
    "esc.respond": {
        "zh": "⏰ 响应提醒：#{number} 登记已{waited}，还没有人认领。请负责人或互保伙伴回复 /ack #{number}。",
        "en": "⏰ #{number} has waited {waited} without an answer. Owner or partner: reply /ack #{number}.",
    },
    "esc.respond_repeat": {
        "zh": "⏰ 第{n}次响应提醒：#{number} 登记已{waited}，仍无人认领，请组长跟进。",
        "en": "⏰ Reminder {n}: #{number} is still unanswered after {waited}; leader, please follow up.",
    },
    # --- resolve window passed ---------------------------------------------------------
    "esc.resolve": {
        "zh": "⚠️ 超时未解决：#{number} 已超过解决时限（{due}），已通知组长和管理员。",
        "en": "⚠️ Overdue: #{number} passed its resolve deadline ({due}); the leader and admins are notified.",
    },
    "esc.resolve_repeat": {
        "zh": "⚠️ #{number} 仍未解决，已逾期{overdue}（第{n}次逾期提醒）。",
        "en": "⚠️ #{number} is still unresolved, {overdue} past its deadline (overdue reminder {n}).",
    },
    "esc.chat": {
        "zh": "⚠️【{group}】风险 #{number} 超时未解决，已逾期{overdue}：",
        "en": "⚠️ [{group}] risk #{number} is unresolved, {overdue} past its deadline:",
    },
    # --- catching up -------------------------------------------------------------------
    "esc.late": {
        "zh": "（此提醒晚发了{late}：机器人曾暂停运行。）",
        "en": "(Sent {late} late: the bot was not running.)",
    },
    "esc.folded": {
        "zh": "（期间应发的 {n} 次提醒已合并为这一条。）",
        "en": "({n} earlier reminder(s) folded into this one.)",
    },
    # --- the weekly post (until the weekly summary replaces it) -------------------------
    "weekly.title": {"zh": "📋 本周风险看板（{group}）", "en": "📋 This week's board ({group})"},
    "weekly.overdue": {"zh": "其中已逾期 {count} 项。", "en": "{count} of them overdue."},
}
