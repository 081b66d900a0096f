"""`python -m mpi_operator run` as a child process of a test: start, probe (/healthz, /metrics), SIGKILL, restart.

Its log goes to a file (a pipe nobody reads would block the operator once full); `log_text()` reads it back for
assertions and for the failure report.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from tests.conftest import REPO

FAST_FLAGS = ("--kube-api-qps", "500", "--kube-api-burst", "1000", "--controller-queue-rate-limit", "1000",
              "--controller-queue-burst", "1000")
SHORT_LEASE_FLAGS = ("--leader-elect-lease-duration", "3", "--leader-elect-renew-deadline", "2",
                     "--leader-elect-retry-period", "0.5")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OperatorProcess:
    def __init__(self, kubeconfig: Path, log_path: Path, *extra: str) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.extra = extra
        self.health = 0
        self.metrics = 0
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        self.health, self.metrics = free_port(), free_port()
        args = [sys.executable, "-m", "mpi_operator", "run", "--kubeconfig", str(self.kubeconfig),
                "--health-port", str(self.health), "--monitoring-port", str(self.metrics), *self.extra]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("KUBECONFIG", None)
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts}: {' '.join(args[1:])}\n".encode())
            log.flush()
            self.proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=log, stderr=log)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def get(self, port: int, path: str) -> tuple[int, str]:
        try:
            timeout = aiohttp.ClientTimeout(total=5)
            async with aiohttp.ClientSession(timeout=timeout) as session, \
                    session.get(f"http://127.0.0.1:{port}{path}") as resp:
                return resp.status, await resp.text()
        except (aiohttp.ClientError, TimeoutError):
            return 0, ""

    async def healthy(self) -> bool:
        return (await self.get(self.health, "/healthz"))[0] == 200

    async def metric(self, name: str) -> float:
        """The value of an unlabelled sample, or of the sum of a labelled family's samples; 0 when absent."""
        _, text = await self.get(self.metrics, "/metrics")
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    async def is_leader(self) -> bool:
        return self.alive and await self.metric("mpi_operator_is_leader") == 1.0

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
