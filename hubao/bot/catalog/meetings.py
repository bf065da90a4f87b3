"""Meetings: /meeting start|note|decision|action|end and the digest."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "help.meeting": {"zh": "例会：开始、记录、结束", "en": "meetings: start, record, end"},
    "help.meeting_start": {"zh": "开始例会（组长）", "en": "start a meeting (leader)"},
    "help.meeting_note": {"zh": "记录会议纪要", "en": "record a note"},
    "help.meeting_decision": {"zh": "记录会议决议", "en": "record a decision"},
    "help.meeting_action": {
        "zh": "记录会议待办，自动登记为风险并跟踪",
        "en": "record an action item; it becomes a tracked risk",
    },
    "help.meeting_end": {"zh": "结束例会并发布纪要（组长）", "en": "end the meeting and post the digest (leader)"},
    "meeting.subcommands": {
        "zh": "可用：/meeting start [标题] · /纪要 <内容> · /决议 <内容> · /待办 <内容> [@负责人] [due:时间] · "
        "/meeting end",
        "en": "use: /meeting start [title] · /meeting note <text> · /meeting decision <text> · "
        "/meeting action <text> [@owner] [due:<time>] · /meeting end",
    },
    "meeting.default_title": {"zh": "{group} 例会 {day}", "en": "{group} meeting {day}"},
    "meeting.started": {
        "zh": "例会开始：{title}\n记录：/纪要 <内容> · /决议 <内容> · /待办 <内容> [@负责人] [due:时间]\n"
        "组长发送 /meeting end 结束；{auto} 后未结束将自动结束并发布纪要。",
        "en": "Meeting started: {title}\nRecord with /meeting note|decision|action <text>; actions take "
        "[@owner] [due:<time>].\nThe leader ends it with /meeting end; it closes by itself after {auto}.",
    },
    "meeting.already_open": {
        "zh": "已有进行中的例会：{title}（{at} 开始）。请先 /meeting end。",
        "en": "A meeting is already open: {title} (started {at}). End it first with /meeting end.",
    },
    "meeting.none_open": {
        "zh": "当前没有进行中的例会。组长可发送 /meeting start [标题] 开始。",
        "en": "No meeting is open. The leader can start one with /meeting start [title].",
    },
    "meeting.recorded_note": {"zh": "已记录纪要（第{n}条）。", "en": "Note recorded (#{n})."},
    "meeting.recorded_decision": {"zh": "已记录决议（第{n}条）。", "en": "Decision recorded (#{n})."},
    "meeting.recorded_action": {"zh": "会议待办（第{n}条）：", "en": "Meeting action (#{n}):"},
    "meeting.digest_title": {"zh": "例会纪要 · {title}", "en": "Meeting digest · {title}"},
    "meeting.digest_time": {"zh": "时间：{start} — {end}（{span}）", "en": "Time: {start} — {end} ({span})"},
    "meeting.digest_auto": {
        "zh": "（超过 {auto} 未结束，已自动结束）",
        "en": "(left open for {auto}; closed automatically)",
    },
    "meeting.digest_people": {"zh": "参会：{names}", "en": "Took part: {names}"},
    "meeting.section_note": {"zh": "**纪要**", "en": "**Notes**"},
    "meeting.section_decision": {"zh": "**决议**", "en": "**Decisions**"},
    "meeting.section_action": {"zh": "**待办**", "en": "**Actions**"},
    "meeting.section_empty": {"zh": "（无）", "en": "(none)"},
    "meeting.item": {"zh": "{n}. {text}（{author}）", "en": "{n}. {text} ({author})"},
    "meeting.action_line": {
        "zh": "{n}. #{number} {text} · 负责人 {owner} · 截止 {due}",
        "en": "{n}. #{number} {text} · owner {owner} · due {due}",
    },
    "meeting.more": {"zh": "……还有 {count} 条", "en": "…and {count} more"},
}
