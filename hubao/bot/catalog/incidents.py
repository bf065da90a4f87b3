"""Emergency (incident) mode: /incident start|update|end, progress prompts, the timeline."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "help.incident": {"zh": "应急模式：开始、同步进展、结束", "en": "emergency mode: start, update, end"},
    "help.incident_start": {"zh": "进入应急模式（组长、管理员）", "en": "start emergency mode (leader, admin)"},
    "help.incident_update": {"zh": "同步应急进展", "en": "post a progress update"},
    "help.incident_end": {
        "zh": "结束应急并发布时间线（组长、管理员）",
        "en": "end emergency mode and post the timeline (leader, admin)",
    },
    "incident.subcommands": {
        "zh": "可用：/incident start <情况> · /incident update <进展> · /incident end [总结]",
        "en": "use: /incident start <what happened> · /incident update <progress> · /incident end [summary]",
    },
    "incident.started": {
        "zh": "【应急】{title}\n已进入应急模式：每 {every} 请用 /incident update <进展> 同步进展；"
        "处理完毕后组长发送 /incident end [总结]。",
        "en": "[INCIDENT] {title}\nEmergency mode is on: post progress with /incident update <text> at least "
        "every {every}; the leader ends it with /incident end [summary].",
    },
    "incident.already_open": {
        "zh": "已有进行中的应急：{title}（{at} 开始）。",
        "en": "An incident is already open: {title} (since {at}).",
    },
    "incident.none_open": {"zh": "当前没有进行中的应急。", "en": "No incident is open."},
    "incident.updated": {"zh": "已记录进展（{at}）。", "en": "Update recorded ({at})."},
    "incident.prompt": {
        "zh": "【应急进行中】{title}\n已持续 {elapsed}，请用 /incident update <进展> 同步最新进展。",
        "en": "[INCIDENT ONGOING] {title}\n{elapsed} so far; please post progress with /incident update <text>.",
    },
    "incident.prompt_silent": {
        "zh": "【应急进行中】{title}\n已持续 {elapsed}，过去 {every} 没有任何进展更新，请组长跟进并用 "
        "/incident update <进展> 同步。",
        "en": "[INCIDENT ONGOING] {title}\n{elapsed} so far and no update in the last {every}; leader, please "
        "follow up and post progress with /incident update <text>.",
    },
    "incident.timeline_title": {"zh": "应急结束 · {title}", "en": "Incident over · {title}"},
    "incident.timeline_time": {"zh": "{start} — {end}（共 {span}）", "en": "{start} — {end} ({span} in all)"},
    "incident.timeline_summary": {"zh": "总结：{summary}", "en": "Summary: {summary}"},
    "incident.section_timeline": {"zh": "**时间线**", "en": "**Timeline**"},
    "incident.entry_started": {"zh": "- {at} {actor} 启动：{text}", "en": "- {at} {actor} started: {text}"},
    "incident.entry_update": {"zh": "- {at} {actor} 进展：{text}", "en": "- {at} {actor} update: {text}"},
    "incident.entry_silent": {
        "zh": "- {at} 系统 {every} 无进展，已提醒组长",
        "en": "- {at} system: no update for {every}, leader pinged",
    },
    "incident.entry_ended": {"zh": "- {at} {actor} 结束：{text}", "en": "- {at} {actor} ended it: {text}"},
    "incident.entry_ended_plain": {"zh": "- {at} {actor} 结束", "en": "- {at} {actor} ended it"},
    "incident.more": {"zh": "- ……中间还有 {count} 条", "en": "- …{count} more in between"},
}
