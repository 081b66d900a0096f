"""The operator and the floor client as separate processes, so their CPU time and RSS are theirs alone.

`OperatorProcess` runs `python -m mpi_operator run` with raised client and queue limits (the QPS limiter is not
what is measured) and leader election off (a Lease renewal is a write every retry period by design, which would
hide the idle-write measurement); it is ready when /readyz answers 200, i.e. its caches have synced.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from pathlib import Path

import aiohttp

from mpi_operator.bench import procfs

OPERATOR_CLIENT = "mpi-operator"  # the accounting client id of the operator's User-Agent
UNLIMITED_QPS = "100000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


class ChildProcess:
    """A Python child process with its log in a file; CPU and RSS read from /proc."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.args = [sys.executable, *args]
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, stdout_pipe: bool = False) -> None:
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.args, env=_env(), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if stdout_pipe else log, stderr=log)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return procfs.cpu_seconds(self.pid)

    def rss_bytes(self) -> int:
        return procfs.rss_bytes(self.pid)

    def check_alive(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            raise RuntimeError(f"{self.args[1:4]} exited: {tail}")

    async def quiet(self, window: float = 1.0, within: float = 120.0) -> float:
        """Wait until the process uses (almost) no CPU for `window` seconds; returns its CPU seconds then."""
        deadline = time.monotonic() + within
        last = self.cpu_seconds()
        while time.monotonic() < deadline:
            await asyncio.sleep(window)
            self.check_alive()
            now = self.cpu_seconds()
            if now - last <= 0.02 * window:
                return now
            last = now
        return last

    async def stop(self) -> None:
        # SIGKILL: shutting down is not what is measured, and a graceful drain would only slow the benchmark.
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.kill()
        await self.proc.wait()


class OperatorProcess(ChildProcess):
    def __init__(self, kubeconfig: Path, log_path: Path, threadiness: int, *extra: str) -> None:
        self.health_port = free_port()
        super().__init__(["-m", "mpi_operator", "run", "--kubeconfig", str(kubeconfig),
                          "--health-port", str(self.health_port), "--monitoring-port", "0",
                          "--kube-api-qps", UNLIMITED_QPS, "--kube-api-burst", UNLIMITED_QPS,
                          "--controller-queue-rate-limit", UNLIMITED_QPS,
                          "--controller-queue-burst", UNLIMITED_QPS, "--threadiness", str(threadiness),
                          "--no-leader-elect", "--log-level", "WARNING", *extra], log_path)

    async def ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                self.check_alive()
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(f"http://127.0.0.1:{self.health_port}/readyz") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise TimeoutError(f"operator not ready within {within}s; log: {self.log_path}")
