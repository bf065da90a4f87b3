"""Texts shown by platform cards themselves (toasts), outside any command's reply."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "card.processing": {"zh": "处理中，请稍候…", "en": "Working on it…"},
    "card.failed": {
        "zh": "处理失败，请稍后再试或发送命令",
        "en": "That did not work; try again later or type the command.",
    },
}
