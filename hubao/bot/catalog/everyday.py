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
}
