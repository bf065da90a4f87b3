"""``hubao serve`` as users start it, in a process of its own, for the tests that kill it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServeProcess:
    """``python -m hubao serve --config FILE``; its output goes to a log beside the config."""

    def __init__(self, config: Path, port: int, name: str = "hubao") -> None:
        self.name, self.config, self.port = name, config, port
        self.process: asyncio.subprocess.Process | None = None
        self.log = config.with_suffix(".log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Start the process (see :meth:`healthy` to wait until it serves)."""
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "hubao", "serve", "--config", str(self.config),
                stdout=out, stderr=asyncio.subprocess.STDOUT, cwd=self.config.parent,
                env={"PATH": os.environ.get("PATH", ""), "HOME": str(self.config.parent), "PYTHONPATH": str(REPO)},
            )  # fmt: skip

    async def healthy(self) -> None:
        assert self.process is not None
        async with aiohttp.ClientSession() as http, asyncio.timeout(START_TIMEOUT):
            while True:
                assert self.process.returncode is None, self.log.read_text()[-3000:]
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{self.url}/healthz") as answer:
                        if answer.status == 200:
                            return
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as in a crash."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    async def wait_dead(self) -> None:
        assert self.process is not None
        await asyncio.wait_for(self.process.wait(), 10)

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
