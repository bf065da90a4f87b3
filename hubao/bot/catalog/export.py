"""/admin export: signed download links, or how to use the command line."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "help.admin_export": {
        "zh": "导出本群风险、事件、指标与积分（默认本季度至今，XLSX）",
        "en": "export this group's risks, events, metrics and points (default: this quarter, XLSX)",
    },
    "export.bad_day": {
        "zh": "日期请写成 2026-10-01（2000–2100 年间）",
        "en": "write dates as 2026-10-01 (years 2000 to 2100)",
    },
    "export.bad_order": {"zh": "结束日期早于开始日期", "en": "the end date is before the start date"},
    "export.link": {
        "zh": "导出 {first} 至 {last}：{url}\n链接 {expires} 前有效。",
        "en": "Export {first} to {last}: {url}\nThe link works until {expires}.",
    },
    "export.no_public_url": {
        "zh": "未配置 server.public_url，无法生成下载链接。请在服务器上运行：",
        "en": "server.public_url is not configured, so there is no download link. On the server, run:",
    },
    "export.no_secret": {
        "zh": "未配置 export.secret，无法签发下载链接。请在服务器上运行：",
        "en": "export.secret is not configured, so links cannot be signed. On the server, run:",
    },
    "export.cli": {
        "zh": "hubao export --group {group} --from {first} --to {last} --format {fmt}",
        "en": "hubao export --group {group} --from {first} --to {last} --format {fmt}",
    },
}
