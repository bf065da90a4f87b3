"""Duty rotation (值班): /duty, /duty set|swap|off and the handover post."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "help.duty": {"zh": "查看当前值班与下一班", "en": "who is on duty now and next"},
    "help.duty_set": {
        "zh": "设置值班轮换（组长），默认每周一 09:00 交接",
        "en": "set the duty rotation (leader); hands over every Monday 09:00 unless told",
    },
    "help.duty_swap": {"zh": "交换两人的值班顺序（组长）", "en": "swap two people's turns (leader)"},
    "help.duty_off": {"zh": "停止值班轮换（组长）", "en": "stop the duty rotation (leader)"},
    "example.duty set": {"zh": "/duty set @张三 @李四 every mon 09:00", "en": "/duty set @alice @bob every mon 09:00"},
    "example.duty swap": {"zh": "/duty swap @张三 @李四", "en": "/duty swap @alice @bob"},
    "duty.none": {
        "zh": "本组未设置值班。组长可发送 /duty set @甲 @乙 [every mon 09:00] 设置。",
        "en": "This group keeps no duty rotation. The leader can set one with /duty set @a @b [every mon 09:00].",
    },
    "duty.now": {
        "zh": "当前值班：{now}\n下一班：{next}（{at} 交接）\n轮换：{every}\n顺序：{order}",
        "en": "On duty: {now}\nNext: {next} (handover {at})\nRotation: {every}\nOrder: {order}",
    },
    "duty.every_day": {"zh": "每天 {at}", "en": "every day at {at}"},
    "duty.every_mon": {"zh": "每周一 {at}", "en": "every Monday at {at}"},
    "duty.every_tue": {"zh": "每周二 {at}", "en": "every Tuesday at {at}"},
    "duty.every_wed": {"zh": "每周三 {at}", "en": "every Wednesday at {at}"},
    "duty.every_thu": {"zh": "每周四 {at}", "en": "every Thursday at {at}"},
    "duty.every_fri": {"zh": "每周五 {at}", "en": "every Friday at {at}"},
    "duty.every_sat": {"zh": "每周六 {at}", "en": "every Saturday at {at}"},
    "duty.every_sun": {"zh": "每周日 {at}", "en": "every Sunday at {at}"},
    "duty.set": {"zh": "值班轮换已设置。", "en": "Duty rotation set."},
    "duty.swapped": {"zh": "值班顺序已调整。", "en": "Duty order changed."},
    "duty.off": {"zh": "值班轮换已停止。", "en": "Duty rotation stopped."},
    "duty.too_many": {"zh": "值班最多 {max} 人。", "en": "At most {max} people take turns."},
    "duty.bad_every": {
        "zh": "看不懂轮换时间“{text}”：请写 every mon 09:00 或 every day 09:00（每周一 09:00、每天 09:00）。",
        "en": "Cannot read the rotation time \"{text}\": write every mon 09:00 or every day 09:00.",
    },
    "duty.swap_two": {"zh": "请 @ 两个不同的人。", "en": "Mention two different people."},
    "duty.not_in_rota": {"zh": "{who} 不在值班表中。", "en": "{who} not in the rotation."},
    "duty.handover": {
        "zh": "值班交接：{before} → {now}\n现在由 {now} 值班，下一班 {next}（{at}）。",
        "en": "Duty handover: {before} → {now}\n{now} is on duty now; next is {next} ({at}).",
    },
}
