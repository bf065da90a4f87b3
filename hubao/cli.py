"""``hubao`` — the command line. Part of the composition root."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
from collections.abc import Sequence
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
    from hubao.app import App

    async def run() -> None:
        app = App(_config(args))
        task = asyncio.create_task(app.serve())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, task.cancel)  # a clean stop: connections closed, outbox kept
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(run())
    return 0


def _check_config(args: argparse.Namespace) -> int:
    config = _config(args)
    enabled = [name for name, section in config.platforms.items() if getattr(section, "enabled", False)]
    print(f"config ok; platforms enabled: {', '.join(enabled) or 'none'}; storage: {config.storage.url}")
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
