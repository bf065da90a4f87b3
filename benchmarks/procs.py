"""Child server processes and /proc readings shared by the benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Child:
    """A server started as ``python -m <module> ...`` that prints ``READY <port>`` once listening."""

    proc: subprocess.Popen[str]
    port: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 20.0) -> str:
        """SIGTERM, wait (bounded), return whatever it printed after READY."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate(timeout=5)
        return out or ""


def start(
    args: list[str], *, ready_within: float = 60.0, env: dict[str, str] | None = None, cpus: set[int] | None = None
) -> Child:
    """``cpus``: run the child (all its threads) on these CPUs only."""

    def prepare() -> None:
        _die_with_parent()
        if cpus:
            os.sched_setaffinity(0, cpus)

    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=None,  # inherit: server errors show up in the benchmark's output
        text=True,
        env={**os.environ, **(env or {})},
        preexec_fn=prepare,
    )
    deadline = time.monotonic() + ready_within
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("READY "):
            return Child(proc, int(line.split()[1]))
    proc.kill()
    raise RuntimeError(f"{args} did not become ready (exit code {proc.poll()})")


def start_serving(
    args: list[str], port: int, *, ready_within: float = 60.0, cpus: set[int] | None = None, log: Path | None = None
) -> Child:
    """A server that says nothing on stdout (``hubao serve``): ready once ``/healthz`` answers 200."""
    import urllib.request

    def prepare() -> None:
        _die_with_parent()
        if cpus:
            os.sched_setaffinity(0, cpus)

    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115 (closed with the child)
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                            preexec_fn=prepare)  # fmt: skip
    deadline = time.monotonic() + ready_within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return Child(proc, port)
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{args} did not become ready (exit code {proc.poll()})")


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if the benchmark process dies first."""
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) in kB from /proc/<pid>/status."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def machine() -> dict[str, str]:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        "?",
    )  # fmt: skip
    return {"nproc": str(os.cpu_count()), "cpu": model, "python": sys.version.split()[0]}
