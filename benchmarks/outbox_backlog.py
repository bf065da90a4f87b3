"""A backlog costs nothing while it waits: 10,000 replies pending for one rate-limited chat.

    python -m benchmarks.outbox_backlog                  # 10,000 replies, about 80 s
    python -m benchmarks.outbox_backlog --replies 2000 --hold 20 --idle 10

A real ``hubao serve`` (started by its CLI: ``python -m hubao serve --config FILE``, delivery
worker, scheduler and look-ups on) with Feishu on HTTP callbacks, its API pointed at the Feishu
stand-in (tests/adapters/feishu/standin.py: 5 messages/s per chat, 429 + x-ogw-ratelimit-reset
beyond, uuid de-duplication) running in this process on loopback. Before the server starts,
``--replies`` plain replies are queued for one chat (SQLite file), and the stand-in is told to
answer the first send with a rate-limit block of ``--hold`` seconds.

Phases, all measured on the server process (/proc/PID/stat):

1. held: the chat's channel waits for the block to end; CPU over ``--idle`` seconds with no
   traffic at all (the worker still polls for other instances' messages and lapsed claims).
2. another chat: one command to a second chat while the backlog waits; seconds from the POST
   to the reply reaching the stand-in.
3. draining: after the block, the chat's messages per second at the stand-in (and the most in
   any one second: the platform's limit is 5), replies carried per message, CPU while sending.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from benchmarks.procs import cpu_seconds, machine
from hubao.app import App, read_config
from hubao.bot.clock import SystemClock
from hubao.bot.events import Lane, OutboundMessage, User
from hubao.storage import repo
from tests.adapters.feishu.standin import (
    APP_ID,
    APP_SECRET,
    BOT_NAME,
    BOT_OPEN_ID,
    ENCRYPT_KEY,
    VERIFICATION_TOKEN,
    FeishuStandIn,
    Reply,
    message_event,
    signed_request,
)

ROOT = Path(__file__).resolve().parent.parent
BACKLOG_CHAT, OTHER_CHAT = "oc_backlog", "oc_other"


class TimedStandIn(FeishuStandIn):
    """The Feishu stand-in, noting when each message was posted."""

    def __init__(self) -> None:
        super().__init__(SystemClock())  # type: ignore[arg-type]  # real time: the rate window slides
        self.posted_at: list[tuple[float, str, str]] = []  # (monotonic, chat, text)

    async def _create(self, request: web.Request) -> web.Response:
        before = len(self.sent)
        response = await super()._create(request)
        for sent in self.sent[before:]:
            self.posted_at.append((time.monotonic(), sent.chat_id, json.dumps(sent.content, ensure_ascii=False)))
        return response


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(tmp: Path, standin_url: str, port: int) -> Path:
    path = tmp / "hubao.toml"
    path.write_text(
        f'[storage]\nurl = "sqlite+aiosqlite:///{tmp / "bench.db"}"\n\n'
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n\n'
        "[feishu]\nenabled = true\ntransport = \"http\"\n"
        f'app_id = "{APP_ID}"\napp_secret = "{APP_SECRET}"\nencrypt_key = "{ENCRYPT_KEY}"\n'
        f'verification_token = "{VERIFICATION_TOKEN}"\nbot_open_id = "{BOT_OPEN_ID}"\nbot_name = "{BOT_NAME}"\n'
        f'api_base = "{standin_url}"\n',
        encoding="utf-8",
    )
    return path


async def _prefill(config: Path, replies: int) -> None:
    app = App(read_config(str(config)), clock=SystemClock(), instance_id="prefill")
    await app.start()
    try:
        lead = User("feishu:ou_lead", "Lead")
        await app.register_group("feishu", BACKLOG_CHAT, "积压的群", leader=lead)
        await app.register_group("feishu", OTHER_CHAT, "别的群", leader=lead)
        now = app.clock.now()
        items = []
        for n in range(replies):
            text = f"已登记：风险 #{n} 库存低（负责人 @Lead，24 小时内处理）"
            message = OutboundMessage("feishu", BACKLOG_CHAT, text, mentions=(lead,), lane=Lane.REPLY)
            items.append((f"bench-reply:{n}", message.to_json(), int(Lane.REPLY)))
        async with app.db.transaction() as session:
            await repo.enqueue(session, items, now=now)
    finally:
        await app.close()


async def _healthy(url: str, process: asyncio.subprocess.Process, within: float = 60.0) -> None:
    async with aiohttp.ClientSession() as http, asyncio.timeout(within):
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"hubao serve exited with {process.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/healthz") as answer:
                    if answer.status == 200:
                        return
            await asyncio.sleep(0.1)


async def run(replies: int, hold: float, idle: float, drain: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="hubao-backlog-"))
    standin = TimedStandIn()
    await standin.start()
    port = _free_port()
    config = _config(tmp, standin.url, port)
    await _prefill(config, replies)
    # The first send to the backlog chat is answered with a block: the whole channel waits.
    standin.fail_next.append(
        Reply(429, {"code": 99991400, "msg": "request trigger frequency limit"}, {"x-ogw-ratelimit-reset": str(hold)})
    )
    with (tmp / "serve.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hubao", "serve", "--config", str(config),
            cwd=tmp, stdout=asyncio.subprocess.DEVNULL, stderr=log, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    result: dict[str, Any] = {"replies": replies, "hold_s": hold, **machine()}
    try:
        await _healthy(url, process)
        async with asyncio.timeout(30):
            while not any(kind == "create" for kind, _ in standin.requests):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        blocked_at = time.monotonic()

        # 1. held: nothing can go to the chat until the block ends.
        await asyncio.sleep(1.0)
        cpu0, t0 = cpu_seconds(process.pid), time.monotonic()
        await asyncio.sleep(idle)
        result["held_cpu_percent"] = round(100 * (cpu_seconds(process.pid) - cpu0) / (time.monotonic() - t0), 2)
        result["held_sent_to_backlog_chat"] = sum(1 for _, chat, _ in standin.posted_at if chat == BACKLOG_CHAT)

        # 2. another chat while the backlog waits.
        event = message_event(OTHER_CHAT, "ou_lead", "@_user_1 /help", {"@_user_1": (BOT_OPEN_ID, BOT_NAME)})
        body, headers = signed_request(event, clock=SystemClock())  # type: ignore[arg-type]
        asked = time.monotonic()
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{url}/callback/feishu", data=body, headers=headers) as answer,
        ):
            assert answer.status == 200, await answer.text()
        async with asyncio.timeout(10):
            while not any(chat == OTHER_CHAT for _, chat, _ in standin.posted_at):  # noqa: ASYNC110
                await asyncio.sleep(0.002)
        answered = next(at for at, chat, _ in standin.posted_at if chat == OTHER_CHAT)
        result["other_chat_reply_s"] = round(answered - asked, 3)

        # 3. draining at the platform's rate once the block ends.
        await asyncio.sleep(max(blocked_at + hold - time.monotonic(), 0.0))
        cpu0, t0 = cpu_seconds(process.pid), time.monotonic()
        await asyncio.sleep(drain)
        t1 = time.monotonic()
        result["drain_cpu_percent"] = round(100 * (cpu_seconds(process.pid) - cpu0) / (t1 - t0), 2)
        sent = [(at, text) for at, chat, text in standin.posted_at if chat == BACKLOG_CHAT and t0 <= at <= t1]
        stamps = [at for at, _ in sent]
        result["drain_messages_per_s"] = round(len(sent) / (t1 - t0), 2)
        result["drain_most_in_any_second"] = max(
            (sum(1 for s in stamps if a <= s < a + 1.0) for a in stamps), default=0
        )
        carried = [text.count("已登记") for _, text in sent]
        result["replies_per_message"] = round(sum(carried) / len(carried), 1) if carried else 0
        result["drain_replies_per_s"] = round(sum(carried) / (t1 - t0), 1)
        result["rate_limit_answers"] = sum(1 for kind, _ in standin.requests if kind == "create") - len(
            standin.posted_at
        )
        everything = "".join(text for _, chat, text in standin.posted_at if chat == BACKLOG_CHAT)
        result["backlog_replies_posted_so_far"] = everything.count("已登记")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()
        await standin.close()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replies", type=int, default=10_000)
    parser.add_argument("--hold", type=float, default=30.0, help="seconds the platform blocks the chat")
    parser.add_argument("--idle", type=float, default=15.0, help="seconds of CPU measured while held")
    parser.add_argument("--drain", type=float, default=20.0, help="seconds measured while sending")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args.replies, args.hold, args.idle, args.drain)), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
