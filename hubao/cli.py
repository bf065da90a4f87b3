"""``hubao`` — the command line. Part of the composition root."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from hubao import __version__
from hubao.bot.config import ConfigError
from hubao.bot.observability import configure_logging

_SHARED_DEFAULTS = {"config": None, "log_level": "warning", "log_format": "text"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parse_args(parser, argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    configure_logging(args.log_level, args.log_format)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"hubao: config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    for name, default in _SHARED_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    return args


def _parser() -> argparse.ArgumentParser:
    # The shared options are accepted before and after the subcommand (``hubao serve --config F``
    # is ``hubao --config F serve``). SUPPRESS keeps a subcommand from resetting a value given
    # before it; the real defaults are filled in after parsing (:data:`_SHARED_DEFAULTS`), as the
    # parsers share the option objects and a default set on one would show up in all.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--config", "-c", help="TOML config file (default: $HUBAO_CONFIG or ./hubao.toml)")
    common.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="default: warning")
    common.add_argument("--log-format", choices=["text", "json"], help="json: one object per line (default: text)")
    parser = argparse.ArgumentParser(
        prog="hubao", description="互保 (HuBao) group bot for WeCom, DingTalk and Feishu", parents=[common]
    )
    parser.add_argument("--version", action="version", version=f"hubao {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_subparser_class(common))

    serve = sub.add_parser("serve", help="run the HTTP callbacks, long connections, scheduler and delivery")
    serve.set_defaults(func=_serve)

    console = sub.add_parser("console", help="try the bot in this terminal (NAME: message lines)")
    console.add_argument("--admin", action="append", default=[], metavar="NAME", help="make NAME a bot admin")
    console.add_argument("--db", metavar="URL", help="database URL (default: a temporary SQLite file)")
    console.add_argument("--locale", choices=["zh", "en"], help="reply language")
    console.set_defaults(func=_console)

    init = sub.add_parser("init", help="write a hubao.toml to start from (never overwrites a file)")
    init.add_argument("--platform", choices=sorted(PLATFORM_TRANSPORTS), help="the chat platform to set up")
    init.add_argument(
        "--transport",
        help="wecom: ws|http, dingtalk: stream|http, feishu: long_connection|http (default: the first)",
    )
    init.set_defaults(func=_init)

    check = sub.add_parser("check-config", help="validate the config file and exit")
    check.set_defaults(func=_check_config)

    doctor = sub.add_parser("doctor", help="check the configured platform credentials and URLs")
    doctor.set_defaults(func=_doctor)

    db = sub.add_parser("db", help="database schema: upgrade to the newest migration, or show the current one")
    db.add_argument("action", choices=["upgrade", "current"])
    db.add_argument("--url", help="database URL (default: [storage] url)")
    db.set_defaults(func=_db)

    outbox = sub.add_parser("outbox", help="list outbound messages by state (dead ones by default)")
    outbox.add_argument("--state", action="append", choices=["pending", "sending", "sent", "dead", "split"])
    outbox.add_argument("--limit", type=int, default=50)
    outbox.set_defaults(func=_outbox)

    export = sub.add_parser("export", help="write a group's risks, events, metrics and points (XLSX, or CSVs in a ZIP)")
    export.add_argument("--group", required=True, help="group id, platform:chat_id, or exact name")
    export.add_argument("--from", dest="first", required=True, metavar="YYYY-MM-DD", help="first day (included)")
    export.add_argument("--to", dest="last", required=True, metavar="YYYY-MM-DD", help="last day (included)")
    export.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
    export.add_argument("--out", help="file to write (default: hubao-<group>-<from>-<to>.xlsx or .zip)")
    export.set_defaults(func=lambda args: asyncio.run(_export(args)))

    web_link = sub.add_parser("web-link", help="print a signed link to a group's web board, or the organisation's")
    scope = web_link.add_mutually_exclusive_group(required=True)
    scope.add_argument("--chat", metavar="CHAT_ID", help="the group's chat id (or platform:chat_id, group id, name)")
    scope.add_argument(
        "--org", action="store_true", help="every group side by side (for admins: never post it in a group)"
    )
    web_link.add_argument("--revoke", action="store_true", help="invalidate every earlier link of that scope instead")
    web_link.set_defaults(func=lambda args: asyncio.run(_web_link(args)))
    return parser


def _subparser_class(common: argparse.ArgumentParser) -> type[argparse.ArgumentParser]:
    """Every subcommand's parser also takes the shared options."""

    class SubcommandParser(argparse.ArgumentParser):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("parents", [common])
            super().__init__(**kwargs)

    return SubcommandParser


def _config(args: argparse.Namespace, **overrides: object):  # type: ignore[no-untyped-def]
    from hubao.app import default_config_path, read_config

    return read_config(args.config or default_config_path(), overrides=overrides)


def _serve(args: argparse.Namespace) -> int:
    _quiet_libraries(args.log_level)  # before the imports: alembic logs as it loads its plugins
    from hubao.app import App

    async def run() -> None:
        config = _config(args)
        report = StartupReport(config, args.config)
        report.before_start()
        app = App(config)
        task = asyncio.create_task(app.serve())
        watcher = asyncio.create_task(report.watch(app, task))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, task.cancel)  # a clean stop: connections closed, outbox kept
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            report.stopped()

    asyncio.run(run())
    return 0


# Libraries that narrate their start-up at info: heard at --log-level debug only.
_CHATTY_LIBRARIES = ("alembic", "apscheduler", "aiohttp.access")


def _quiet_libraries(level: str) -> None:
    if level != "debug":
        for name in _CHATTY_LIBRARIES:
            logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))


class StartupReport:
    """The lines ``hubao serve`` says at the default log level: what it runs, where, and when it is up."""

    POLL_SECONDS = 0.2

    def __init__(self, config, config_path: str | None) -> None:  # type: ignore[no-untyped-def]
        self.config = config
        self.config_path = config_path
        self.log = logging.getLogger("hubao.serve")
        if self.log.getEffectiveLevel() > logging.INFO and logging.getLogger().level <= logging.WARNING:
            self.log.setLevel(logging.INFO)  # heard at the default level; silenced only by --log-level error

    def platforms(self) -> dict[str, str]:
        """Enabled chat platforms and their transports (the console is always there)."""
        return {
            name: str(getattr(section, "transport", ""))
            for name, section in self.config.platforms.items()
            if name != "console" and getattr(section, "enabled", False)
        }

    def before_start(self) -> None:
        self.log.info("hubao %s starting (config: %s)", __version__, self.config_path or "defaults")
        self.log.info("storage: %s", safe_url(self.config.storage.url))
        public = self.config.server.public_url.rstrip("/")
        platforms = self.platforms()
        for name, transport in platforms.items():
            if transport == "http":
                where = f"{public}/callback/{name}" if public else f"/callback/{name} (server.public_url is not set)"
                self.log.info("%s: enabled, transport %s, callbacks at %s", name, transport, where)
            else:
                self.log.info("%s: enabled, transport %s (long connection)", name, transport)
        if not platforms:
            self.log.warning(
                "no chat platform is enabled: only the intake API answers. Enable one "
                "([wecom]/[dingtalk]/[feishu] enabled = true, or start from `hubao init --platform …`) "
                "and check it with `hubao doctor`"
            )

    async def watch(self, app, serving: asyncio.Task[None]) -> None:  # type: ignore[no-untyped-def]
        """Say when the server listens and when each long connection comes up or drops."""
        host, port = self.config.server.host, self.config.server.port
        while True:
            if serving.done():
                return
            if await _accepts(host, port):
                break
            await asyncio.sleep(self.POLL_SECONDS)
        self.log.info("listening on http://%s:%s", host, port)
        was_up: dict[str, bool | None] = {}
        while not serving.done():
            for name, adapter in list(app.adapters.items()):
                up = adapter.connection_up()
                if up is not None and up != was_up.get(name):
                    if up:
                        self.log.info("%s: long connection up", name)
                    elif was_up.get(name):
                        self.log.warning("%s: long connection down; reconnecting", name)
                    was_up[name] = up
            await asyncio.sleep(self.POLL_SECONDS)

    def stopped(self) -> None:
        self.log.info("stopped")


async def _accepts(host: str, port: int) -> bool:
    """Whether the HTTP server takes connections yet (the wildcard address is asked on loopback)."""
    target = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(target, port), timeout=1)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def safe_url(url: str) -> str:
    """A database URL without its password (``postgresql://hubao:***@db/hubao``)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("://", 1)[0] + "://…"


# Per platform and transport: the keys to fill in (id keys in the file, secrets from the
# environment), whether the platform must reach this server (server.public_url), and the steps
# in the platform's console (docs/platforms/<platform>.md, section 1).
PLATFORM_TRANSPORTS = {
    "wecom": ("ws", "http"),
    "dingtalk": ("stream", "http"),
    "feishu": ("long_connection", "http"),
}


@dataclass(frozen=True)
class _Setup:
    ids: tuple[tuple[str, str], ...]  # (key, what it is) — written in the file
    secrets: tuple[tuple[str, str], ...]  # (key, what it is) — HUBAO__<PLATFORM>__<KEY>
    console: tuple[str, ...]  # steps in the platform's admin console
    public_url: bool = False


_CALLBACK = "https://<server.public_url>/callback/{platform}"
_SETUPS = {
    ("wecom", "ws"): _Setup(
        ids=(("bot_id", "BotID of the 长连接 API mode"), ("bot_name", "the AI bot's display name")),
        secrets=(("secret", "Secret of the 长连接 API mode"),),
        console=(
            "Admin console https://work.weixin.qq.com/wework_admin → 应用管理 → 智能机器人 → 创建机器人",
            "API 模式: 长连接 — copy BotID and Secret",
            "可见范围 → publish; add the AI bot to each group (群设置 → 群机器人 → 添加)",
            "optional: a group robot (消息推送) per group for @-pings, key into [wecom.webhook_keys]",
        ),
    ),
    ("wecom", "http"): _Setup(
        ids=(("bot_name", "the AI bot's display name"),),
        secrets=(("token", "Token of the URL 回调"), ("encoding_aes_key", "EncodingAESKey (43 characters)")),
        console=(
            "Admin console https://work.weixin.qq.com/wework_admin → 应用管理 → 智能机器人 → 创建机器人",
            "API 模式: URL 回调 — URL " + _CALLBACK.format(platform="wecom")
            + "; 随机获取 Token and EncodingAESKey; start hubao serve before saving",
            "可见范围 → publish; add the AI bot to each group (群设置 → 群机器人 → 添加)",
            "a group robot (消息推送) per group, key into [wecom.webhook_keys]: without it escalations cannot post",
        ),
        public_url=True,
    ),
    ("dingtalk", "stream"): _Setup(
        ids=(("client_id", "Client ID (AppKey)"),),
        secrets=(("client_secret", "Client Secret (AppSecret)"),),
        console=(
            "Developer console https://open-dev.dingtalk.com → 企业内部应用 → 创建应用; note Client ID/Secret",
            "添加应用能力 → 机器人; 消息接收模式: Stream 模式",
            "权限管理: 企业内机器人发送消息 (and Card.Instance.Write for cards)",
            "版本管理与发布; add the robot to each group (群设置 → 机器人 → 添加机器人)",
        ),
    ),
    ("dingtalk", "http"): _Setup(
        ids=(("client_id", "Client ID (AppKey)"),),
        secrets=(("client_secret", "Client Secret (AppSecret)"),),
        console=(
            "Developer console https://open-dev.dingtalk.com → 企业内部应用 → 创建应用; note Client ID/Secret",
            "添加应用能力 → 机器人; 消息接收模式: HTTP 模式, 消息接收地址 " + _CALLBACK.format(platform="dingtalk"),
            "权限管理: 企业内机器人发送消息 (and Card.Instance.Write for cards)",
            "版本管理与发布; add the robot to each group (群设置 → 机器人 → 添加机器人)",
        ),
        public_url=True,
    ),
    ("feishu", "long_connection"): _Setup(
        ids=(("app_id", "App ID (cli_…)"),),
        secrets=(("app_secret", "App Secret"),),
        console=(
            "Developer console https://open.feishu.cn/app → 企业自建应用; 添加应用能力 → 机器人; note App ID/Secret",
            "权限管理: im:message.group_at_msg:readonly, im:message:send_as_bot (optional contact:user.base:readonly)",
            "事件与回调: 使用长连接接收事件 (start hubao serve first); 添加事件 接收消息 v2.0 and 机器人进群; "
            "回调 卡片回传交互",
            "版本管理与发布; add the bot to each group (群设置 → 群机器人 → 添加机器人)",
        ),
    ),
    ("feishu", "http"): _Setup(
        ids=(("app_id", "App ID (cli_…)"),),
        secrets=(
            ("app_secret", "App Secret"),
            ("encrypt_key", "Encrypt Key"),
            ("verification_token", "Verification Token"),
        ),
        console=(
            "Developer console https://open.feishu.cn/app → 企业自建应用; 添加应用能力 → 机器人; note App ID/Secret",
            "权限管理: im:message.group_at_msg:readonly, im:message:send_as_bot (optional contact:user.base:readonly)",
            "事件与回调: set an Encrypt Key, note the Verification Token; 将事件发送至开发者服务器 "
            + _CALLBACK.format(platform="feishu") + " (start hubao serve first); 添加事件 接收消息 v2.0 and "
            "机器人进群; 回调 卡片回传交互 at the same URL",
            "版本管理与发布; add the bot to each group (群设置 → 群机器人 → 添加机器人)",
        ),
        public_url=True,
    ),
}


def _init(args: argparse.Namespace) -> int:
    import os

    path = Path(args.config or os.environ.get("HUBAO_CONFIG") or "hubao.toml")
    platform = args.platform
    if platform is None and args.transport:
        print("hubao init: --transport needs --platform", file=sys.stderr)
        return 2
    transport = args.transport or (PLATFORM_TRANSPORTS[platform][0] if platform else "")
    if platform and transport not in PLATFORM_TRANSPORTS[platform]:
        choices = "|".join(PLATFORM_TRANSPORTS[platform])
        print(f"hubao init: {platform} transports are {choices}, not {transport!r}", file=sys.stderr)
        return 2
    setup = _SETUPS[(platform, transport)] if platform else None
    try:
        with path.open("x", encoding="utf-8") as out:  # "x": never overwrite
            out.write(init_config(platform, transport, setup))
    except FileExistsError:
        print(f"hubao init: {path} exists; not overwriting it (move it away or pass --config NEW.toml)",
              file=sys.stderr)  # fmt: skip
        return 1
    print(f"wrote {path}")
    print("next steps:")
    steps: list[str] = []
    if setup is not None:
        steps += [f"{step}  (docs/platforms/{platform}.md)" if i == 0 else step for i, step in enumerate(setup.console)]
        if setup.public_url:
            steps.append(f"set [server] public_url in {path} to the https address the platform reaches")
        fill = " ".join(f"[{platform}] {key}" for key, _ in setup.ids)
        steps.append(f"fill in {fill} in {path}")
        exports = " ".join(f"HUBAO__{platform.upper()}__{key.upper()}=…" for key, _ in setup.secrets)
        steps.append(f"export {exports}")
    else:
        steps.append("try it here first: hubao console --config " + str(path))
        steps.append("for a chat platform: hubao init --platform wecom|dingtalk|feishu --config OTHER.toml")
    steps.append(f"hubao check-config --config {path}")
    steps.append(f"hubao doctor --config {path}   (checks the credentials and URLs with the platform)")
    steps.append(f"hubao serve --config {path}; then in a group: @bot /admin setup <小组名称>")
    for number, step in enumerate(steps, 1):
        print(f"  {number}. {step}")
    return 0


def init_config(platform: str | None, transport: str, setup: _Setup | None) -> str:
    """The text of a fresh hubao.toml: the kernel basics, fresh link-signing keys, the platform."""
    import secrets as random_keys

    from hubao.bot.config import Config

    how = f" --platform {platform} --transport {transport}" if platform else ""
    lines = [
        f"# HuBao config, written by `hubao init{how}`. Every key: config.example.toml.",
        "# Secrets stay out of this file: set them as HUBAO__<SECTION>__<KEY> environment variables.",
        "",
        "[bot]",
        'locale = "zh"                 # zh or en',
        'timezone = "Asia/Shanghai"',
        f'admins = []  # bot admins, e.g. ["{platform or "console"}:<user id>"]; they run /admin setup',
        "",
        "[storage]",
        'url = "sqlite+aiosqlite:///hubao.db"',
        "",
        "[server]",
        "port = 8080",
    ]
    if setup is not None and setup.public_url:
        lines.append('public_url = ""                # https address the platform posts to (required)')
    # Fresh random keys for every section that signs links (export downloads, the web board).
    for name, field in Config.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and "secret" in getattr(model, "model_fields", {}):
            lines += ["", f"[{name}]", f'secret = "{random_keys.token_urlsafe(32)}"   # signs {name} links']
    if platform and setup is not None:
        lines += ["", f"[{platform}]", "enabled = true", f'transport = "{transport}"']
        lines += [f'{key} = ""{" " * max(1, 20 - len(key))}# {what}' for key, what in setup.ids]
        lines += [f"# {key}: set HUBAO__{platform.upper()}__{key.upper()} ({what})" for key, what in setup.secrets]
    return "\n".join(lines) + "\n"


def _check_config(args: argparse.Namespace) -> int:
    config = _config(args)
    enabled = [name for name, section in config.platforms.items() if getattr(section, "enabled", False)]
    print(f"config ok; platforms enabled: {', '.join(enabled) or 'none'}; storage: {safe_url(config.storage.url)}")
    for warning in _calendar_warnings(config):
        print(f"warning: {warning}")
    return 0


def _calendar_warnings(config) -> list[str]:  # type: ignore[no-untyped-def]
    """Holiday data must cover this year and the next for the workdays calendar to be right."""
    from datetime import UTC, datetime

    from hubao.scheduler.calendar import Holidays

    this_year = datetime.now(UTC).year
    gaps = Holidays.load(config.escalation.holidays_file or None).uncovered_years([this_year, this_year + 1])
    return [
        f"no holiday data for {year}: groups on the workdays calendar would count Monday-Friday; "
        "add that year to [escalation] holidays_file"
        for year in gaps
    ]


def _console(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {}
    if args.locale:
        overrides["bot.locale"] = args.locale
    with tempfile.TemporaryDirectory(prefix="hubao-console-") as tmp:
        if args.db:
            overrides["storage.url"] = args.db
        elif not args.config:
            overrides["storage.url"] = f"sqlite+aiosqlite:///{Path(tmp) / 'console.db'}"
        config = _config(args, **overrides)
        admins = list(config.bot.admins) + [f"console:{name}" for name in args.admin]
        config = config.model_copy(update={"bot": config.bot.model_copy(update={"admins": admins})})
        return asyncio.run(run_console(config, sys.stdin, sys.stdout))


async def run_console(config, stdin: TextIO, stdout: TextIO) -> int:  # type: ignore[no-untyped-def]
    from hubao.bot.clock import ManualClock, SystemClock
    from hubao.console import ConsoleSession

    interactive = stdin.isatty()
    # The console's clock starts at the real minute and then moves only with :advance.
    start = SystemClock().now().replace(second=0, microsecond=0)
    session = await ConsoleSession.open(config, ManualClock(start))
    if interactive:
        stdout.write("HuBao console — type `NAME: /help`, `:advance 61m`; Ctrl-D quits.\n")
    try:
        loop = asyncio.get_running_loop()
        while True:
            if interactive:
                stdout.write("> ")
                stdout.flush()
            line = await loop.run_in_executor(None, stdin.readline)
            if not line:
                break
            for block in await session.feed(line):
                stdout.write(block + "\n")
            stdout.flush()
    finally:
        await session.close()
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from hubao.app import App

    async def check() -> int:
        app = App(_config(args))
        problems = 0
        try:
            await app.start()
            print("storage: ok")
            for warning in _calendar_warnings(app.config):
                print(f"calendar: warning: {warning}")
        except Exception as exc:
            print(f"storage: FAILED ({type(exc).__name__}: {exc})")
            problems += 1
        for name, adapter in app.adapters.items():
            issues = await adapter.check()
            problems += len(issues)
            print(f"{name}: " + ("ok" if not issues else "PROBLEMS"))
            for issue in issues:
                print(f"  - {issue}")
        if not app.adapters:
            print("no platform is enabled; set [wecom]/[dingtalk]/[feishu] enabled = true")
        await app.close()
        return 1 if problems else 0

    return asyncio.run(check())


def _db(args: argparse.Namespace) -> int:
    from hubao.storage import migrate
    from hubao.storage.db import Database

    async def run() -> int:
        database = Database(args.url or _config(args).storage.url)
        try:
            if args.action == "upgrade":
                await migrate.upgrade(database)
            print(f"schema revision: {await migrate.current(database)} (newest: {migrate.head()})")
        finally:
            await database.dispose()
        return 0

    return asyncio.run(run())


async def _web_link(args: argparse.Namespace) -> int:
    from hubao.web.commands import web_link

    return await web_link(_config(args), args.chat, org=args.org, revoke=args.revoke)


async def _export(args: argparse.Namespace) -> int:
    from hubao.handlers.export import export_to_file

    return await export_to_file(_config(args), args.group, args.first, args.last, args.format, args.out)


def _outbox(args: argparse.Namespace) -> int:
    from hubao.app import App

    async def listing() -> int:
        app = App(_config(args))
        await app.start()
        rows = await app.outbox.listing(tuple(args.state or ["dead"]), args.limit)
        for row in rows:
            text = str(row.payload.get("text", "")).replace("\n", " ")[:60]
            print(
                f"{row.id}\t{row.state}\t{row.platform}:{row.chat_id}\tattempts={row.attempts}\t{row.key}\t"
                f"{row.last_error[:80]}\t{text}"
            )
        print(f"{len(rows)} message(s)")
        await app.close()
        return 0

    return asyncio.run(listing())


if __name__ == "__main__":
    raise SystemExit(main())
