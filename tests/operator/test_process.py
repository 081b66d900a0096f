"""`mpi-operator run` as a real process against the sandbox: health, readiness, metrics, reconciling,
graceful SIGTERM, and leader election between two processes (one leads; SIGKILL hands over)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import yaml

from mpi_operator.sandbox import Sandbox
from tests.conftest import REPO, examples_dir

MPIJOBS = "mpijobs.kubeflow.org"
pytestmark = pytest.mark.asyncio(loop_scope="module")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def eventually(check: Callable[[], Any], within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


class Operator:
    """`mpi-operator run` as a child process; `kubeconfig=None` leaves the connection flags to `extra`."""

    def __init__(self, kubeconfig: Path | None, *extra: str, env: dict[str, str] | None = None) -> None:
        self.health = free_port()
        self.metrics = free_port()
        self.args = [sys.executable, "-m", "mpi_operator", "run",
                     *(("--kubeconfig", str(kubeconfig)) if kubeconfig is not None else ()),
                     "--health-port", str(self.health), "--monitoring-port", str(self.metrics),
                     "--kube-api-qps", "200", "--kube-api-burst", "400", *extra]
        self.extra_env = env or {}
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("KUBECONFIG", None)
        env.update(self.extra_env)
        # Logs go to a file: a pipe nobody reads while the process runs could fill and stall it.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the process)
        self.proc = await asyncio.create_subprocess_exec(*self.args, env=env, stdout=asyncio.subprocess.DEVNULL,
                                                         stderr=self.log)

    def log_text(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    async def get(self, port: int, path: str) -> tuple[int, str]:
        try:
            async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as resp:
                return resp.status, await resp.text()
        except aiohttp.ClientError:
            return 0, ""

    async def ready(self) -> bool:
        return (await self.get(self.health, "/readyz"))[0] == 200

    async def not_ready_because(self, check: str) -> str:
        """The /readyz body when it answers 503 naming `check` (a line `check: reason`), else ''."""
        status, body = await self.get(self.health, "/readyz")
        return body if status == 503 and f"{check}:" in body else ""

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def exit_code(self, within: float) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), within)

    async def seconds_to_exit_after(self, sig: signal.Signals, within: float = 20) -> tuple[int, float]:
        """Send `sig`; (exit code, seconds from the signal to the exit)."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        sent = time.monotonic()
        code = await self.exit_code(within)
        return code, time.monotonic() - sent


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sandbox(tmp_path_factory: Any) -> AsyncIterator[tuple[Sandbox, Path]]:
    kubeconfig: Path = tmp_path_factory.mktemp("kube") / "config"
    async with Sandbox(port=0, kubeconfig_path=kubeconfig) as sb:
        yield sb, kubeconfig


def pi(namespace: str, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((examples_dir() / "pi.yaml").read_text())
    doc["metadata"] = {"name": name, "namespace": namespace}
    return doc


async def test_operator_process_reconciles_serves_health_and_exits_zero_on_sigterm(
        sandbox: tuple[Sandbox, Path]) -> None:
    sb, kubeconfig = sandbox
    op = Operator(kubeconfig)
    await op.start()
    try:
        await eventually(op.ready, 20, "/readyz 200")
        assert (await op.get(op.health, "/healthz"))[0] == 200
        sb.store.create(MPIJOBS, "default", pi("default", "proc"))
        await eventually(lambda: sb.store.find("jobs.batch", "default", "proc-launcher"), 10, "launcher Job")
        status, metrics = await op.get(op.metrics, "/metrics")
        assert status == 200
        await eventually(lambda: _metric_value(op, "mpi_operator_jobs_created_total"), 10, "created counter")
        _, metrics = await op.get(op.metrics, "/metrics")
        assert 'workqueue_adds_total{name="MPIJob"}' in metrics
        assert "controller_runtime_reconcile_total" in metrics
        assert "mpi_operator_is_leader 1.0" in metrics

        assert op.proc is not None
        op.proc.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        code = await asyncio.wait_for(op.proc.wait(), 20)
        assert code == 0
        assert time.monotonic() - stopping < 5, "an idle operator stops at once"
        lease = sb.store.find("leases.coordination.k8s.io", "mpi-operator", "mpi-operator")
        assert lease is not None and not lease["spec"].get("holderIdentity"), "lease released on shutdown"
        assert "Unclosed" not in op.log_text() and "Traceback" not in op.log_text()
    finally:
        await op.stop()


async def _metric_value(op: Operator, name: str) -> float:
    _, text = await op.get(op.metrics, "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def test_operator_exits_one_when_the_crd_is_missing(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    async with Sandbox(port=0, kubeconfig_path=kubeconfig, install_mpijob_crd=False):
        op = Operator(kubeconfig)
        await op.start()
        assert op.proc is not None
        code = await asyncio.wait_for(op.proc.wait(), 20)
        err = op.log_text()
        assert code == 1
        assert "CRD" in err


async def test_two_processes_elect_one_leader_and_a_kill_hands_over(sandbox: tuple[Sandbox, Path]) -> None:
    sb, kubeconfig = sandbox
    lease_args = ("--lock-namespace", "default", "--leader-elect-lease-duration", "3",
                  "--leader-elect-renew-deadline", "2", "--leader-elect-retry-period", "0.5")
    first, second = Operator(kubeconfig, *lease_args), Operator(kubeconfig, *lease_args)
    await first.start()
    await eventually(lambda: _metric_value(first, "mpi_operator_is_leader"), 20, "first leads")
    await second.start()
    try:
        # A follower is ready (it serves metrics and stands by) but does not lead.
        await eventually(second.ready, 20, "the follower is ready")
        assert (await second.get(second.metrics, "/metrics"))[0] == 200
        assert await _metric_value(second, "mpi_operator_is_leader") == 0.0
        assert first.proc is not None
        first.proc.send_signal(signal.SIGKILL)
        await first.proc.wait()
        started = time.monotonic()
        await eventually(lambda: _metric_value(second, "mpi_operator_is_leader"), 15, "second takes over")
        assert time.monotonic() - started < 3 + 5  # the lease duration, plus retry periods and a loaded machine
        sb.store.create(MPIJOBS, "default", pi("default", "handover"))
        await eventually(lambda: sb.store.find("jobs.batch", "default", "handover-launcher"), 10,
                         "the new leader reconciles")
    finally:
        for op in (first, second):
            with contextlib.suppress(ProcessLookupError):
                await op.stop()


async def test_a_missing_kubeconfig_is_one_clear_line_not_a_traceback(tmp_path: Path) -> None:
    op = Operator(tmp_path / "does-not-exist")
    await op.start()
    assert op.proc is not None
    assert await asyncio.wait_for(op.proc.wait(), 20) == 1
    err = op.log_text()
    assert "cannot build a Kubernetes client" in err
    assert "Traceback" not in err
