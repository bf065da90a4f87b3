"""Deadlines as written, the short help, answers to messages that address the bot, the hello."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    # --- deadlines --------------------------------------------------------------------
    "due.unreadable": {
        "zh": "看不懂截止时间 {due}，可以写：周五、下周一、12月5日15:00、明天下午3点、月底、下班前、2h",
        "en": "cannot read the deadline {due}; try: fri, next monday, dec 5 15:00, tomorrow 3pm, eod, 2h",
    },
    "due.invalid": {
        "zh": "截止时间 {due} 不是真实的日期或钟点",
        "en": "the deadline {due} is not a real date or time",
    },
    "due.past": {
        "zh": "截止时间 {due} 理解为 {at}，已经过去了，请写一个将来的时间",
        "en": "the deadline {due} reads as {at}, which has passed; write a time still to come",
    },
    "due.too_far": {
        "zh": "截止时间 {due} 理解为 {at}，超过一年了",
        "en": "the deadline {due} reads as {at}, more than a year away",
    },
    "due.too_long": {
        "zh": "截止时间 {due} 太远了（最多一年）",
        "en": "the deadline {due} is too far off (a year at most)",
    },
    "due.weekdays": {"zh": "周一 周二 周三 周四 周五 周六 周日", "en": "Mon Tue Wed Thu Fri Sat Sun"},
    # --- help -------------------------------------------------------------------------
    "help.title": {"zh": "互保助手命令（常用）：", "en": "HuBao commands (everyday):"},
    "help.more": {
        "zh": "更多：/help <命令> 看用法和例子 · /help all 全部命令 · /help admin 管理命令",
        "en": "More: /help <command> for usage and an example · /help all · /help admin",
    },
    "help.all_title": {
        "zh": "互保助手全部命令（/help <命令> 看详情）：",
        "en": "All HuBao commands (/help <command> for details):",
    },
    "help.admin_title": {
        "zh": "管理命令（/admin setup 由管理员登记本群；/help <命令> 看详情）：",
        "en": "Admin commands (an admin registers the chat with /admin setup; /help <command> for details):",
    },
    "help.detail": {
        "zh": "{usage}\n{summary}\n例如：{example}\n别名：{aliases}\n权限：{roles}",
        "en": "{usage}\n{summary}\nExample: {example}\nAliases: {aliases}\nWho: {roles}",
    },
    # One example per command, as a group would type it.
    "example.risk": {
        "zh": "/risk 合同还没盖章 @张三 !高 due:周五",
        "en": "/risk contract not stamped @alice !high due:fri",
    },
    "example.urgent": {"zh": "/urgent 仓库漏水 @李四", "en": "/urgent the warehouse is flooding @bob"},
    "example.ack": {"zh": "/ack #3", "en": "/ack #3"},
    "example.resolve": {"zh": "/resolve #3 已补盖章", "en": "/resolve #3 stamped today"},
    "example.reopen": {"zh": "/reopen #3 对方说还没收到", "en": "/reopen #3 they have not received it"},
    "example.assign": {"zh": "/assign #3 @王五", "en": "/assign #3 @carol"},
    "example.note": {"zh": "/note #3 已联系法务", "en": "/note #3 legal is on it"},
    "example.snooze": {"zh": "/snooze #3 明天下午3点", "en": "/snooze #3 next monday"},
    "example.assess": {"zh": "/assess #3 P4 I5", "en": "/assess #3 P4 I5"},
    "example.list": {"zh": "/list mine", "en": "/list overdue"},
    "example.show": {"zh": "/show #3", "en": "/show #3"},
    "example.help": {"zh": "/help risk", "en": "/help risk"},
    "example.meeting": {"zh": "/meeting start 周例会", "en": "/meeting start weekly review"},
    "example.meeting start": {"zh": "/meeting start 周例会", "en": "/meeting start weekly review"},
    "example.meeting note": {"zh": "/meeting note 华东仓库存偏低", "en": "/meeting note stock is low in the east"},
    "example.meeting decision": {"zh": "/meeting decision 下周起每日盘点", "en": "/meeting decision count stock daily"},
    "example.meeting action": {
        "zh": "/meeting action 补货 @张三 due:周五",
        "en": "/meeting action restock @alice due:fri",
    },
    "example.meeting end": {"zh": "/meeting end", "en": "/meeting end"},
    "example.summary": {"zh": "/summary last-week", "en": "/summary last-week"},
    "example.stats": {"zh": "/stats @张三 this-month", "en": "/stats @alice this-month"},
    "example.points": {"zh": "/points this-month", "en": "/points this-month"},
    "example.points why": {"zh": "/points why @张三", "en": "/points why @alice"},
    "example.incident": {"zh": "/incident start 支付接口超时", "en": "/incident start payments time out"},
    "example.incident start": {"zh": "/incident start 支付接口超时", "en": "/incident start payments time out"},
    "example.incident update": {
        "zh": "/incident update 已切换备用线路",
        "en": "/incident update switched to the backup",
    },
    "example.incident end": {"zh": "/incident end 线路恢复", "en": "/incident end the line is back"},
    "example.admin": {"zh": "/admin setup 华东互保组 @张三", "en": "/admin setup East team @alice"},
    "example.admin setup": {"zh": "/admin setup 华东互保组 @张三", "en": "/admin setup East team @alice"},
    "example.admin leader": {"zh": "/admin leader @张三", "en": "/admin leader @alice"},
    "example.admin member": {"zh": "/admin member add @李四 @王五", "en": "/admin member add @bob @carol"},
    "example.admin pair": {"zh": "/admin pair @张三 @李四", "en": "/admin pair @alice @bob"},
    "example.admin unpair": {"zh": "/admin unpair @张三", "en": "/admin unpair @alice"},
    "example.admin policy": {
        "zh": "/admin policy high respond=30m resolve=4h",
        "en": "/admin policy high respond=30m resolve=4h",
    },
    "example.admin calendar": {
        "zh": "/admin calendar workdays hours=09:00-18:00",
        "en": "/admin calendar workdays hours=09:00-17:30",
    },
    "example.admin escalate-to": {"zh": "/admin escalate-to chat", "en": "/admin escalate-to chat"},
    "example.admin digest": {"zh": "/admin digest fri 17:00", "en": "/admin digest fri 17:00"},
    "example.admin admins": {"zh": "/admin admins add @张三", "en": "/admin admins add @alice"},
    "example.admin show": {"zh": "/admin show", "en": "/admin show"},
    "example.admin token": {"zh": "/admin token", "en": "/admin token"},
    "example.admin export": {
        "zh": "/admin export 2026-11-01 2026-11-30 xlsx",
        "en": "/admin export 2026-11-01 2026-11-30 csv",
    },
    # --- talking to the bot without a command; the hello on joining a chat ----------------
    "addressed.help": {
        "zh": "我是{name}，帮小组登记风险、按时提醒负责人。\n登记：/risk 内容 @负责人 due:周五\n常用命令：/help",
        "en": "I am {name}: I log the group's risks and remind their owners on time.\n"
        "Log one: /risk what @owner due:fri\nEveryday commands: /help",
    },
    "addressed.suggest": {
        "zh": "要登记成风险提醒吗？负责人：{owner} · 截止：{due}\n发送这一行即可登记：\n{line}",
        "en": "Log this as a risk? Owner: {owner} · due: {due}\nSend this line to log it:\n{line}",
    },
    "addressed.no_deadline": {"zh": "未写（按级别时限）", "en": "none written (the level's limits)"},
    "addressed.log_button": {"zh": "登记", "en": "Log it"},
    "hello.joined": {
        "zh": "大家好，我是{name}：帮互保小组登记风险（/risk），按时提醒负责人，逾期逐级升级。",
        "en": "Hello, I am {name}: I log the group's risks (/risk), remind their owners on time "
        "and escalate what is overdue.",
    },
    "hello.setup": {
        "zh": "请组长或管理员发送 /admin setup <小组名称> 登记本群，之后发送 /help 查看常用命令。",
        "en": "A leader or admin registers this chat with /admin setup <name>; then /help lists the everyday commands.",
    },
    "hello.registered": {
        "zh": "本群已登记，发送 /help 查看常用命令。",
        "en": "This chat is registered; /help lists the commands.",
    },
}
