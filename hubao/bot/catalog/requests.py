"""Cross-group requests: /request, /admin requests, the posts back and the outgoing list."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "help.request": {
        "zh": "向另一个小组发起协同请求，由对方值班人跟进",
        "en": "ask another group; its on-duty member follows it up",
    },
    "help.admin_requests": {
        "zh": "允许或拒绝某个小组向本组发起协同请求（管理员）",
        "en": "allow or deny requests from a group to this group (admin)",
    },
    "example.request": {
        "zh": "/request 仓储组 门店A 库存低于阈值 !高 due:1h",
        "en": "/request Warehouse stock below threshold !high",
    },
    "request.need_group_and_text": {
        "zh": "请写上目标小组和请求内容。",
        "en": "Write the target group and what you ask.",
    },
    "request.unknown_group": {
        "zh": "没有名为“{group}”的小组。请用对方在 /admin setup 时登记的组名。",
        "en": "No group is called \"{group}\". Use the name the group was registered with (/admin setup).",
    },
    "request.ambiguous": {
        "zh": "有多个小组叫“{group}”，请用对方的群 ID 或小组编号。",
        "en": "Several groups are called \"{group}\"; use its chat id or group number.",
    },
    "request.same_group": {
        "zh": "不能向本组发起协同请求；本组事项请用 /risk。",
        "en": "A group cannot ask itself; use /risk for this group's own items.",
    },
    "request.denied": {
        "zh": "{target} 不接受来自 {asker} 的协同请求（管理员已设置 /admin requests deny）。请联系管理员。",
        "en": "{target} does not take requests from {asker} (an admin set /admin requests deny). Ask an admin.",
    },
    "request.not_allowed": {
        "zh": "{target} 只接受已允许小组的协同请求，{asker} 不在其中。请联系管理员 /admin requests allow。",
        "en": "{target} takes requests only from groups it allows, and {asker} is not one. "
        "Ask an admin (/admin requests allow).",
    },
    "request.no_owner": {
        "zh": "{target} 既没有值班人也没有组长，无法接收请求。",
        "en": "{target} has neither an on-duty member nor a leader to take the request.",
    },
    "request.received": {
        "zh": "📨 来自 {asker}（{who}）的协同请求：",
        "en": "📨 Request from {asker} ({who}):",
    },
    "request.sent": {
        "zh": "已发往 {target}：{ref}，负责人 {owner}。对方认领、解决或逾期时会在本群通知；/show {ref} 查看进展。",
        "en": "Sent to {target}: {ref}, owner {owner}. You will hear here when it is acknowledged, resolved "
        "or overdue; /show {ref} shows its progress.",
    },
    "request.rule_allowed": {
        "zh": "已允许 {asker} 向 {target} 发起协同请求。",
        "en": "{asker} may now send requests to {target}.",
    },
    "request.rule_denied": {
        "zh": "已拒绝 {asker} 向 {target} 发起协同请求。",
        "en": "{asker} may no longer send requests to {target}.",
    },
    "request.back_acknowledged": {
        "zh": "协同请求 {ref} 已由 {who} 认领：{content}",
        "en": "Request {ref} acknowledged by {who}: {content}",
    },
    "request.back_resolved": {
        "zh": "协同请求 {ref} 已由 {who} 解决：{content}\n解决说明：{note}",
        "en": "Request {ref} resolved by {who}: {content}\nResolution: {note}",
    },
    "request.back_reopened": {
        "zh": "协同请求 {ref} 已被 {who} 重开：{content}",
        "en": "Request {ref} reopened by {who}: {content}",
    },
    "request.back_overdue": {
        "zh": "⚠️ 协同请求 {ref} 已逾期（应于 {due} 前解决）：{content}",
        "en": "⚠️ Request {ref} is overdue (due {due}): {content}",
    },
    "request.no_note": {"zh": "（无）", "en": "(none)"},
    "request.line_from": {
        "zh": "协同请求：来自 {group}（{who}，{at}）",
        "en": "Request from {group} ({who}, {at})",
    },
    "request.outgoing_title": {"zh": "本组发出的协同请求（{count}）：", "en": "Requests this group sent ({count}):"},
    "request.outgoing_line": {
        "zh": "{ref}【{level}】{content} · {owner} · {status} · {due} 前解决 {flag}",
        "en": "{ref} [{level}] {content} · {owner} · {status} · due {due} {flag}",
    },
    "request.no_such": {
        "zh": "本组没有发出过 {ref} 这个协同请求。",
        "en": "This group sent no request {ref}.",
    },
    "request.show_title": {"zh": "协同请求 {ref}", "en": "Request {ref}"},
    "request.summary_section": {"zh": "**跨组协同**", "en": "**Cross-group requests**"},
    "request.summary_sent": {
        "zh": "- 发出 {n} 项：按时响应 {answered} · 逾期 {overdue}",
        "en": "- Sent {n}: answered in time {answered} · overdue {overdue}",
    },
    "request.summary_received": {
        "zh": "- 收到 {n} 项：按时响应 {answered} · 逾期 {overdue}",
        "en": "- Received {n}: answered in time {answered} · overdue {overdue}",
    },
}
