"""Weekly summary, /stats and /points."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    # --- help -------------------------------------------------------------------------
    "help.summary": {"zh": "立即生成周报（本周或上周）", "en": "the weekly summary now (this or last week)"},
    "help.stats": {"zh": "小组或某个成员在一段时间内的指标", "en": "metrics of the group or one member over a period"},
    "help.points": {"zh": "积分排行榜与互保之星", "en": "points leaderboard and 互保之星"},
    "help.points_why": {"zh": "某个成员积分的来龙去脉", "en": "the events behind a member's points"},
    # --- periods ----------------------------------------------------------------------
    "period.this-week": {"zh": "本周", "en": "this week"},
    "period.last-week": {"zh": "上周", "en": "last week"},
    "period.this-month": {"zh": "本月", "en": "this month"},
    "period.last-month": {"zh": "上月", "en": "last month"},
    "period.this-quarter": {"zh": "本季度", "en": "this quarter"},
    "period.days": {"zh": "近{n}天", "en": "last {n} days"},
    "period.all": {"zh": "全部", "en": "all time"},
    "period.range": {"zh": "{start} 至 {end}", "en": "{start} to {end}"},
    "period.bad": {
        "zh": "看不懂时间段 {text}（可用：本周 上周 本月 上月 本季度 7d 全部 2026-11-01..2026-11-30；"
        "日期在 2000–2100 年间，最长 10 年）",
        "en": "unknown period {text} (try: this-week last-week this-month last-month this-quarter 7d all "
        "2026-11-01..2026-11-30; days from 2000 to 2100, at most 10 years)",
    },
    # --- spans, rates, changes --------------------------------------------------------
    "span.s": {"zh": "{s}秒", "en": "{s}s"},
    "span.m": {"zh": "{m}分钟", "en": "{m}m"},
    "span.h": {"zh": "{h}小时", "en": "{h}h"},
    "span.hm": {"zh": "{h}小时{m}分钟", "en": "{h}h {m}m"},
    "span.d": {"zh": "{d}天", "en": "{d}d"},
    "span.dh": {"zh": "{d}天{h}小时", "en": "{d}d {h}h"},
    "none": {"zh": "—", "en": "—"},
    "delta.up": {"zh": "（+{n}）", "en": " (+{n})"},
    "delta.down": {"zh": "（−{n}）", "en": " (−{n})"},
    "delta.same": {"zh": "（持平）", "en": " (=)"},
    "delta.before": {"zh": "（上周 {value}）", "en": " (last week {value})"},
    # --- weekly summary ---------------------------------------------------------------
    "summary.title": {"zh": "互保周报 · {group}", "en": "Weekly summary · {group}"},
    "summary.period": {"zh": "{range}（截至 {as_of}）", "en": "{range} (as of {as_of})"},
    "summary.section_counts": {"zh": "**风险概况**", "en": "**Risks**"},
    "summary.counts": {
        "zh": "- 新增 {new}{d_new} · 已解决 {resolved}{d_resolved}\n"
        "- 未解决 {open}{d_open} · 逾期 {overdue}{d_overdue}",
        "en": "- New {new}{d_new} · resolved {resolved}{d_resolved}\n"
        "- Open {open}{d_open} · overdue {overdue}{d_overdue}",
    },
    "summary.section_speed": {"zh": "**响应与解决**", "en": "**Response and resolution**"},
    "summary.response": {
        "zh": "- 响应时间：中位 {median}{d_median} · P90 {p90}{d_p90}",
        "en": "- Response time: median {median}{d_median} · p90 {p90}{d_p90}",
    },
    "summary.on_time": {"zh": "- 按时解决率：{rate}{d_rate}", "en": "- Resolved on time: {rate}{d_rate}"},
    "summary.collab": {"zh": "- 协同解决率：{rate}{d_rate}", "en": "- 协同解决率 (collaboration): {rate}{d_rate}"},
    "summary.section_overdue": {"zh": "**逾期风险**", "en": "**Overdue**"},
    "summary.overdue_line": {
        "zh": "- #{number}【{level}】{content} · {owner} · 超期{late}",
        "en": "- #{number} [{level}] {content} · {owner} · {late} late",
    },
    "summary.more": {"zh": "- ……还有 {count} 项", "en": "- …and {count} more"},
    "summary.section_reminders": {"zh": "**风险提醒次数**", "en": "**Reminders per member (风险提醒次数)**"},
    "summary.reminder": {"zh": "{name} {count}", "en": "{name} {count}"},
    "summary.section_points": {"zh": "**积分排行**", "en": "**Points**"},
    "summary.no_points": {"zh": "- 本期还没有人得分", "en": "- Nobody has earned points yet"},
    "summary.rank": {"zh": "{rank}. {name} {points}分", "en": "{rank}. {name} {points} pts"},
    "summary.star": {"zh": "🌟 互保之星：{names}", "en": "🌟 互保之星 (star): {names}"},
    "summary.bad_which": {"zh": "可用：本周 / 上周", "en": "use this-week or last-week"},
    # --- stats ------------------------------------------------------------------------
    "stats.title": {"zh": "小组指标 · {group} · {period}", "en": "Metrics · {group} · {period}"},
    "stats.period_label": {"zh": "{label}（{range}）", "en": "{label} ({range})"},
    "stats.overdue_rate": {"zh": "- 逾期率：{rate}", "en": "- Overdue rate: {rate}"},
    "stats.member_title": {"zh": "个人指标 · {name} · {period}", "en": "Metrics · {name} · {period}"},
    "stats.member_lines": {
        "zh": "- 风险提醒次数：{reported}\n- 新增负责：{owned_new} · 已解决（负责人）：{resolved}（按时 {on_time}）\n"
        "- 收到：{acked}（超时 {late}） · 响应中位：{median}\n"
        "- 当前负责未解决：{open} · 逾期：{overdue}\n- 积分：{points}",
        "en": "- Reminders logged: {reported}\n- New as owner: {owned_new} · resolved as owner: {resolved} "
        "(on time {on_time})\n- Acknowledged: {acked} (late {late}) · median response: {median}\n"
        "- Open now: {open} · overdue: {overdue}\n- Points: {points}",
    },
    # --- points -----------------------------------------------------------------------
    "points.title": {"zh": "积分排行 · {group} · {period}", "en": "Points · {group} · {period}"},
    "points.rules": {
        "zh": "规则：提醒的风险被解决 +{report_resolved} · 按时收到 +{ack_in_time} · 按时解决 +{resolve_in_time} · "
        "协助解决 +{help_resolve}",
        "en": "Rules: reported risk resolved +{report_resolved} · acknowledged in time +{ack_in_time} · "
        "resolved in time +{resolve_in_time} · helped resolve +{help_resolve}",
    },
    "points.why_title": {
        "zh": "积分明细 · {name} · {period}：共 {total} 分",
        "en": "Points of {name} · {period}: {total} in all",
    },
    "points.why_line": {"zh": "- {at} #{number} {rule} +{points}", "en": "- {at} #{number} {rule} +{points}"},
    "points.why_none": {"zh": "{name} 在{period}没有得分。", "en": "{name} earned no points in {period}."},
    "points.why_more": {
        "zh": "- ……还有 {count} 条（合计已计入总分）",
        "en": "- …and {count} more (counted in the total)",
    },
    "rule.report_resolved": {"zh": "提醒的风险被解决", "en": "reported risk resolved"},
    "rule.ack_in_time": {"zh": "按时收到", "en": "acknowledged in time"},
    "rule.resolve_in_time": {"zh": "按时解决", "en": "resolved in time"},
    "rule.help_resolve": {"zh": "协助解决他人风险", "en": "helped resolve someone else's risk"},
}
