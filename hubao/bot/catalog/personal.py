"""Personal escalation: the direct message text and /me notify."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "help.me_notify": {
        "zh": "开启或关闭非紧急升级的私信/加急提醒（紧急的总会送达）",
        "en": "turn direct messages of non-urgent escalations on or off (urgent ones always come)",
    },
    "example.me notify": {"zh": "/me notify off", "en": "/me notify off"},
    "personal.title": {"zh": "互保提醒 · {group}", "en": "HuBao · {group}"},
    "personal.text": {"zh": "【{group}】\n{text}", "en": "[{group}]\n{text}"},
    "personal.notify_on": {
        "zh": "已开启：升级时会私信/加急提醒你。",
        "en": "On: escalations will also reach you directly.",
    },
    "personal.notify_off": {
        "zh": "已关闭：非紧急升级不再私信/加急提醒你；紧急事项仍会送达。",
        "en": "Off: non-urgent escalations no longer reach you directly; urgent ones still do.",
    },
}
