"""A stop signal is honoured in every phase of `mpi-operator run` (a real process against the sandbox): during
start-up, while waiting for leadership (no lease is taken after it), while the caches sync, and while running
(in-flight syncs finish, or are cancelled after --shutdown-grace-period); the lease is released if held, and an
idle process exits within a second."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from mpi_operator.sandbox import Sandbox
from tests.operator.test_process import MPIJOBS, Operator, eventually, pi

pytestmark = pytest.mark.asyncio(loop_scope="module")
LEASES = "leases.coordination.k8s.io"
SHORT_LEASE = ("--leader-elect-lease-duration", "3", "--leader-elect-renew-deadline", "2",
               "--leader-elect-retry-period", "0.5")
IDLE_EXIT_SECONDS = 1.0


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sandbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Sandbox, Path]]:
    kubeconfig = tmp_path_factory.mktemp("kube") / "config"
    async with Sandbox(port=0, kubeconfig_path=kubeconfig) as sb:
        yield sb, kubeconfig


@pytest.fixture
def lock_namespace(sandbox: tuple[Sandbox, Path]) -> str:
    """A namespace of its own per test, so that no test meets another one's lease."""
    name = f"lock-{uuid.uuid4().hex[:6]}"
    sandbox[0].store.create("namespaces", None, {"metadata": {"name": name}})
    return name


def lease(sb: Sandbox, namespace: str) -> dict[str, Any]:
    found = sb.store.find(LEASES, namespace, "mpi-operator")
    return dict(found["spec"]) if found else {}


async def leading(op: Operator) -> bool:
    _, text = await op.get(op.metrics, "/metrics")
    return "mpi_operator_is_leader 1.0" in text


async def test_a_follower_told_to_stop_exits_at_once_and_never_takes_the_lease(
        sandbox: tuple[Sandbox, Path], lock_namespace: str) -> None:
    sb, kubeconfig = sandbox
    leader = Operator(kubeconfig, "--lock-namespace", lock_namespace, *SHORT_LEASE)
    follower = Operator(kubeconfig, "--lock-namespace", lock_namespace, *SHORT_LEASE)
    await leader.start()
    try:
        await eventually(lambda: leading(leader), 20, "the first process leads")
        await follower.start()
        await eventually(follower.ready, 20, "the follower is up and standing by")
        before = lease(sb, lock_namespace)
        # A rolling update: both are told to stop; the leader releases the lease at once. A follower that ignored
        # its signal would take the lease within one retry period (0.5 s) and start reconciling.
        assert follower.proc is not None and leader.proc is not None
        follower.proc.send_signal(signal.SIGTERM)
        code, seconds = await leader.seconds_to_exit_after(signal.SIGTERM)
        assert code == 0 and seconds < IDLE_EXIT_SECONDS, f"idle leader: {seconds:.2f} s"
        assert await follower.exit_code(IDLE_EXIT_SECONDS) == 0
        after = lease(sb, lock_namespace)
        assert after["holderIdentity"] == "", "released by the leader, not taken by the follower"
        assert after["leaseTransitions"] == before["leaseTransitions"]
        assert "became leader" not in follower.log_text()
    finally:
        await leader.stop()
        await follower.stop()


async def test_a_signal_while_the_caches_sync_stops_at_once_and_releases_the_lease(
        sandbox: tuple[Sandbox, Path], lock_namespace: str) -> None:
    sb, kubeconfig = sandbox
    sb.faults.replace("error=1,verbs=list,resources=pods")  # the pod cache can never sync
    op = Operator(kubeconfig, "--lock-namespace", lock_namespace)
    await op.start()
    try:
        async def syncing() -> bool:
            return "pods" in await op.not_ready_because("caches") and await leading(op)

        await eventually(syncing, 20, "leading, with the pod cache not synced")
        code, seconds = await op.seconds_to_exit_after(signal.SIGTERM)
        assert code == 0 and seconds < IDLE_EXIT_SECONDS, f"{seconds:.2f} s"
        assert lease(sb, lock_namespace)["holderIdentity"] == ""
    finally:
        sb.faults.replace("")
        await op.stop()


async def test_a_signal_during_start_up_stops_at_once() -> None:
    # A server that accepts connections and never answers: start-up hangs in its first request.
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    op = Operator(None, "--master", url)
    await op.start()
    try:
        body = await eventually(lambda: op.not_ready_because("startup"), 20, "/readyz naming the start-up step")
        assert f"checking the API server at {url}" in body
        code, seconds = await op.seconds_to_exit_after(signal.SIGTERM)
        assert code == 0 and seconds < IDLE_EXIT_SECONDS, f"{seconds:.2f} s"
        assert "Traceback" not in op.log_text()
    finally:
        await op.stop()
        server.close()


@contextlib.asynccontextmanager
async def a_sync_in_flight(sb: Sandbox, op: Operator, seconds: float) -> AsyncIterator[str]:
    """Start `op`, then hold its sync of a new MPIJob in its Service create for `seconds` (a latency fault)."""
    name = f"held-{uuid.uuid4().hex[:4]}"
    await op.start()
    try:
        await eventually(op.ready, 20, "/readyz 200")
        sb.faults.replace(f"latency={seconds},verbs=create,resources=services")
        sent = sb.requests.count("create", "services")
        sb.store.create(MPIJOBS, "default", pi("default", name))
        await eventually(lambda: sb.requests.count("create", "services") > sent, 10, "the Service create sent")
        yield name
    finally:
        sb.faults.replace("")
        await op.stop()


async def test_an_in_flight_sync_finishes_before_the_process_exits(
        sandbox: tuple[Sandbox, Path], lock_namespace: str) -> None:
    sb, kubeconfig = sandbox
    op = Operator(kubeconfig, "--lock-namespace", lock_namespace)
    async with a_sync_in_flight(sb, op, 1.5) as name:
        code, seconds = await op.seconds_to_exit_after(signal.SIGTERM)
        assert code == 0
        assert 0.5 < seconds < 10, f"waited for the sync in flight, within the grace period: {seconds:.2f} s"
        assert sb.store.find("services", "default", name) is not None, "the write in flight completed"
        assert lease(sb, lock_namespace)["holderIdentity"] == ""


async def test_a_sync_longer_than_the_grace_period_is_cancelled(
        sandbox: tuple[Sandbox, Path], lock_namespace: str) -> None:
    sb, kubeconfig = sandbox
    op = Operator(kubeconfig, "--lock-namespace", lock_namespace, "--shutdown-grace-period", "0.5")
    async with a_sync_in_flight(sb, op, 60):
        code, seconds = await op.seconds_to_exit_after(signal.SIGTERM)
        assert code == 0 and seconds < 0.5 + 2.5, f"{seconds:.2f} s"
        assert "did not finish within the grace period; cancelling them" in op.log_text()
        assert lease(sb, lock_namespace)["holderIdentity"] == ""


async def test_a_second_signal_exits_at_once(sandbox: tuple[Sandbox, Path], lock_namespace: str) -> None:
    sb, kubeconfig = sandbox
    op = Operator(kubeconfig, "--lock-namespace", lock_namespace)
    async with a_sync_in_flight(sb, op, 60):
        assert op.proc is not None
        op.proc.send_signal(signal.SIGTERM)
        await eventually(lambda: "signal received" in op.log_text(), 5, "the first signal seen")
        code, seconds = await op.seconds_to_exit_after(signal.SIGTERM)
        assert code == 1 and seconds < IDLE_EXIT_SECONDS, f"{seconds:.2f} s"


async def test_without_leader_election_an_idle_process_stops_at_once(sandbox: tuple[Sandbox, Path]) -> None:
    _, kubeconfig = sandbox
    op = Operator(kubeconfig, "--no-leader-elect")
    await op.start()
    try:
        await eventually(op.ready, 20, "/readyz 200")
        code, seconds = await op.seconds_to_exit_after(signal.SIGTERM)
        assert code == 0 and seconds < IDLE_EXIT_SECONDS, f"{seconds:.2f} s"
        assert "stopped" in op.log_text().splitlines()[-1]
    finally:
        await op.stop()
