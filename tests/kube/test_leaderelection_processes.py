"""Two operator-like processes on one Lease: exactly one leads; SIGKILL of the leader hands over within the
lease duration; SIGTERM releases the lease and exits 0 with nothing pending."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from mpi_operator.sandbox import Sandbox
from tests.conftest import REPO
from tests.kube.conftest import unique


class Proc:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.changed = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode().strip())
            self.changed.set()

    async def wait_line(self, prefix: str, within: float) -> str:
        async with asyncio.timeout(within):
            while True:
                for line in self.lines:
                    if line.startswith(prefix):
                        return line
                self.changed.clear()
                await self.changed.wait()

    @property
    def leading(self) -> bool:
        return "LEADING" in self.lines


Spawn = Callable[[], Awaitable[Proc]]


@pytest.fixture
async def spawn(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[Spawn]:
    """Starts elector processes on one lock; kills whatever is left at the end."""
    kubeconfig = str(sandbox.write_kubeconfig(tmp_path / "kubeconfig"))
    lock = unique("lock")
    procs: list[Proc] = []

    async def start() -> Proc:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.kube.elector_process", kubeconfig, lock, cwd=str(REPO),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        procs.append(Proc(proc))
        return procs[-1]

    yield start
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            p.proc.kill()
        await p.proc.wait()
        await p.reader


async def first_leader(a: Proc, b: Proc, within: float) -> tuple[Proc, Proc]:
    async with asyncio.timeout(within):
        while not (a.leading or b.leading):
            waits = {asyncio.create_task(a.changed.wait()), asyncio.create_task(b.changed.wait())}
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
    return (a, b) if a.leading else (b, a)


async def test_sigkill_of_the_leader_hands_over_within_the_lease_duration(spawn: Spawn) -> None:
    a, b = await spawn(), await spawn()
    leader, follower = await first_leader(a, b, within=15)
    assert not follower.leading
    killed_at = time.monotonic()
    leader.proc.send_signal(signal.SIGKILL)
    await follower.wait_line("LEADING", within=2 + 0.2 * 1.2 + 2.0)
    assert time.monotonic() - killed_at <= 2 + 0.2 * 1.2 + 2.0


async def test_sigterm_releases_the_lease_and_exits_zero_with_nothing_pending(spawn: Spawn) -> None:
    a, b = await spawn(), await spawn()
    leader, follower = await first_leader(a, b, within=15)
    leader.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(leader.proc.wait(), 5) == 0
    await leader.reader
    assert "STOPPED" in leader.lines and "EXIT pending=0" in leader.lines
    await follower.wait_line("LEADING", within=1 + 0.2 * 1.2 + 2.0)
