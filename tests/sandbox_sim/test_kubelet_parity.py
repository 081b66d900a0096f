"""One kubelet story: the same annotated pods end the same way on the sandbox's in-process kubelet and on the node
agent's simulated runtime (`mpi-operator sandbox --no-kubelet` + `mpi-operator node-agent --bind`).

The annotations are one documented set (docs/sandbox-simulation.md, "What a pod does"); each case below states
the end a pod with them reaches, and both grounds must reach exactly it. Pods are created and read through the
store of a sandbox in this process; the node agent is a real process reaching it over HTTP.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

import mpi_operator.sandbox.cluster.annotations as pod_annotations
from mpi_operator.nodeagent import simulated
from mpi_operator.sandbox import Sandbox
from mpi_operator.sandbox.cluster import JobControllerOptions, KubeletOptions, SimulationOptions
from mpi_operator.sandbox.cluster.annotations import (
    EVICT_AFTER,
    EXIT_CODE,
    FAILURES,
    LOGS,
    READY_SECONDS,
    RUN_SECONDS,
    START_SECONDS,
    TERMINATION_SECONDS,
    UNSCHEDULABLE,
)
from mpi_operator.sandbox.timefmt import parse_rfc3339
from tests.conftest import REPO

# On the async tests only: they share the module's loop with the `ground` fixture.
on_the_module_loop = pytest.mark.asyncio(loop_scope="module")
Obj = dict[str, Any]
RUN = 0.4  # how long a pod that is not long-running runs, on both grounds
NS = "default"


@dataclass
class Ground:
    name: str
    sandbox: Sandbox

    async def wait(self, name: str, ended: Callable[[Obj], bool], within: float = 20.0) -> Obj:
        deadline = time.monotonic() + within
        while True:
            pod = self.sandbox.store.find("pods", NS, name)
            if pod is not None and ended(pod):
                return pod
            assert time.monotonic() < deadline, f"{self.name}: pod {name} did not end within {within} s: {pod}"
            await asyncio.sleep(0.05)


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["kubelet", "node-agent"])
async def ground(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Ground]:
    if request.param == "kubelet":
        kubelet = KubeletOptions(start_delay=0.02, run_seconds=RUN, restart_delay=0.02)
        async with Sandbox(port=0, simulate=True, simulation=SimulationOptions(kubelet, JobControllerOptions())) as sb:
            yield Ground("kubelet", sb)
        return
    log = tmp_path_factory.mktemp("parity") / "node-agent.log"
    async with Sandbox(port=0, simulate=True, simulation=SimulationOptions(False, JobControllerOptions())) as sb:
        with log.open("wb") as out:
            agent = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "mpi_operator", "node-agent", "--kubeconfig", str(sb.kubeconfig_path),
                "--bind", "--runtime", "simulated", "--nodes", "1", "--run-seconds", str(RUN),
                "--restart-backoff", "0.02", stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                env={k: v for k, v in os.environ.items() if k != "KUBECONFIG"})
        try:
            deadline = time.monotonic() + 60
            while "node agent ready" not in log.read_text(errors="replace"):
                assert agent.returncode is None and time.monotonic() < deadline, log.read_text(errors="replace")
                await asyncio.sleep(0.05)
            yield Ground("node-agent", sb)
        finally:
            agent.terminate()
            await asyncio.wait_for(agent.wait(), 30)


def pod(name: str, notes: dict[str, str], *, command: str = "mpirun", restart: str = "Never",
        spec: Obj | None = None) -> Obj:
    return {"metadata": {"name": name, "annotations": notes},
            "spec": {"restartPolicy": restart, **(spec or {}),
                     "containers": [{"name": "main", "image": "mpioperator/mpi-pi:openmpi", "command": [command]}]}}


def condition(pod: Obj, type_: str) -> Obj:
    return next((c for c in (pod.get("status") or {}).get("conditions") or [] if c["type"] == type_), {})


def end(pod: Obj) -> Obj:
    """What two kubelets must agree on: phase and reason, scheduling, readiness, each container's state."""
    status = pod.get("status") or {}
    containers = []
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        kind = next(iter(state), "")
        detail = state.get(kind) or {}
        containers.append({"state": kind, "exitCode": detail.get("exitCode"), "reason": detail.get("reason"),
                           "restartCount": cs.get("restartCount", 0)})
    return {"phase": status.get("phase"), "reason": status.get("reason"),
            "scheduled": condition(pod, "PodScheduled").get("status"),
            "unschedulable": condition(pod, "PodScheduled").get("reason") == "Unschedulable",
            "ready": condition(pod, "Ready").get("status"),
            "disruption": condition(pod, "DisruptionTarget").get("reason"), "containers": containers}


def terminal(p: Obj) -> bool:
    return (p.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def running_for(seconds: float) -> Callable[[Obj], bool]:
    """Running, and still so `seconds` after it started (long enough for a wrong exit to show)."""
    def check(p: Obj) -> bool:
        started = p.get("status", {}).get("startTime")
        return (p.get("status") or {}).get("phase") == "Running" and started is not None and \
            time.time() - parse_rfc3339(started) > seconds
    return check


def container(state: str, exit_code: int | None = None, reason: str | None = None, restarts: int = 0) -> Obj:
    return {"state": state, "exitCode": exit_code, "reason": reason, "restartCount": restarts}


BOUND = {"scheduled": "True", "unschedulable": False, "disruption": None, "reason": None}

# name: (annotations, pod options, when it has ended, its end)
CASES: dict[str, tuple[dict[str, str], dict[str, Any], Callable[[Obj], bool], Obj]] = {
    "plain-launcher-succeeds": (
        {}, {}, terminal,
        {**BOUND, "phase": "Succeeded", "ready": "False", "containers": [container("terminated", 0, "Completed")]}),
    "exit-code-fails": (
        {EXIT_CODE: "3"}, {}, terminal,
        {**BOUND, "phase": "Failed", "ready": "False", "containers": [container("terminated", 3, "Error")]}),
    "sshd-worker-runs-until-deleted": (
        {}, {"command": "/usr/sbin/sshd"}, running_for(2 * RUN + 1),
        {**BOUND, "phase": "Running", "ready": "True", "containers": [container("running")]}),
    "restart-always-runs-until-deleted": (
        {}, {"restart": "Always"}, running_for(2 * RUN + 1),
        {**BOUND, "phase": "Running", "ready": "True", "containers": [container("running")]}),
    "run-seconds-ends-a-worker": (
        {RUN_SECONDS: "0.3"}, {"command": "/usr/sbin/sshd"}, terminal,
        {**BOUND, "phase": "Succeeded", "ready": "False", "containers": [container("terminated", 0, "Completed")]}),
    "run-seconds-inf-runs-a-launcher-forever": (
        {RUN_SECONDS: "inf"}, {}, running_for(2 * RUN + 1),
        {**BOUND, "phase": "Running", "ready": "True", "containers": [container("running")]}),
    "ready-seconds-inf-is-never-ready": (
        {READY_SECONDS: "inf"}, {"command": "/usr/sbin/sshd"}, running_for(1.0),
        {**BOUND, "phase": "Running", "ready": "False", "containers": [container("running")]}),
    "start-seconds-delays-then-runs": (
        {START_SECONDS: "0.5"}, {}, terminal,
        {**BOUND, "phase": "Succeeded", "ready": "False", "containers": [container("terminated", 0, "Completed")]}),
    "unschedulable-stays-pending": (
        {UNSCHEDULABLE: "true"}, {}, lambda p: condition(p, "PodScheduled").get("status") == "False",
        {"phase": "Pending", "reason": None, "scheduled": "False", "unschedulable": True, "ready": None,
         "disruption": None, "containers": []}),
    "failures-restart-in-place-then-succeed": (
        {FAILURES: "2"}, {"restart": "OnFailure"}, terminal,
        {**BOUND, "phase": "Succeeded", "ready": "False",
         "containers": [container("terminated", 0, "Completed", restarts=2)]}),
    # Eviction and the active deadline kill as a deletion does: SIGTERM first, so a container that stops on it
    # exits 143; one that takes longer than the grace period (a hard eviction's 0, raised to the runtime's 2 s
    # minimum; the deadline's terminationGracePeriodSeconds) is SIGKILLed, 137.
    "evict-after-seconds-evicts": (
        {EVICT_AFTER: "0.3"}, {"command": "/usr/sbin/sshd"}, terminal,
        {**BOUND, "phase": "Failed", "reason": "Evicted", "ready": "False", "disruption": "TerminationByKubelet",
         "containers": [container("terminated", 143, "Error")]}),
    "evicted-container-slower-than-2s-is-killed": (
        {EVICT_AFTER: "0.3", TERMINATION_SECONDS: "2.5"}, {"command": "/usr/sbin/sshd"}, terminal,
        {**BOUND, "phase": "Failed", "reason": "Evicted", "ready": "False", "disruption": "TerminationByKubelet",
         "containers": [container("terminated", 137, "Error")]}),
    "active-deadline-fails-the-pod": (
        {}, {"command": "/usr/sbin/sshd", "spec": {"activeDeadlineSeconds": 1}}, terminal,
        {**BOUND, "phase": "Failed", "reason": "DeadlineExceeded", "ready": "False",
         "containers": [container("terminated", 143, "Error")]}),
    "active-deadline-stops-within-the-pods-grace": (  # 30 s by default: what an eviction's 2 s would kill
        {TERMINATION_SECONDS: "2.5"}, {"command": "/usr/sbin/sshd", "spec": {"activeDeadlineSeconds": 1}}, terminal,
        {**BOUND, "phase": "Failed", "reason": "DeadlineExceeded", "ready": "False",
         "containers": [container("terminated", 143, "Error")]}),
    # The deadline runs from the pod's startTime (admission), not from its container's start: a container that
    # takes 2 s to start and would end 0.5 s later never gets to end (counted from its start, it would succeed).
    "active-deadline-counts-from-admission-not-from-the-start": (
        {START_SECONDS: "2", RUN_SECONDS: "0.5"}, {"spec": {"activeDeadlineSeconds": 1}}, terminal,
        {**BOUND, "phase": "Failed", "reason": "DeadlineExceeded", "ready": "False",
         "containers": [container("terminated", 143, "Error")]}),
    "active-deadline-past-the-grace-is-killed": (
        {TERMINATION_SECONDS: "2.5"},
        {"command": "/usr/sbin/sshd", "spec": {"activeDeadlineSeconds": 1, "terminationGracePeriodSeconds": 1}},
        terminal,
        {**BOUND, "phase": "Failed", "reason": "DeadlineExceeded", "ready": "False",
         "containers": [container("terminated", 137, "Error")]}),
}


@on_the_module_loop
@pytest.mark.parametrize("case", list(CASES))
async def test_an_annotated_pod_ends_the_same_way(ground: Ground, case: str) -> None:
    notes, options, ended, expected = CASES[case]
    name = f"{case}-{os.urandom(2).hex()}"
    ground.sandbox.store.create("pods", NS, pod(name, notes, **options))
    assert end(await ground.wait(name, ended)) == expected


@on_the_module_loop
async def test_termination_seconds_and_the_grace_period_decide_the_exit(ground: Ground) -> None:
    """Stopping within the grace period is a SIGTERM exit (143); taking longer than it (never less than the
    runtime's 2 s) is a SIGKILL (137). Either way the terminated state is written before the pod goes."""
    store = ground.sandbox.store
    last: dict[str, Obj] = {}

    def remember(change: Any) -> None:
        if change.info.key == "pods" and change.name in last:
            last[change.name] = change.object

    unlisten = store.listen(remember)
    try:
        # name: (grace period, termination-seconds, exit code). gracePeriodSeconds is an int64: grace 1 is 2 s.
        cases = {f"quick-{os.urandom(2).hex()}": (30, "0.5", 143), f"slow-{os.urandom(2).hex()}": (1, "3", 137)}
        for name, (_, takes, _) in cases.items():
            last[name] = {}
            store.create("pods", NS, pod(name, {TERMINATION_SECONDS: takes}, command="/usr/sbin/sshd"))
            await ground.wait(name, running_for(0))
        started = time.monotonic()
        for name, (grace, _, _) in cases.items():
            store.delete("pods", NS, name, {"gracePeriodSeconds": grace})
        for name in cases:
            deadline = time.monotonic() + 20
            while store.find("pods", NS, name) is not None:
                assert time.monotonic() < deadline, f"{ground.name}: {name} not deleted"
                await asyncio.sleep(0.05)
        assert time.monotonic() - started >= 2.0, "the slow pod was given less than the 2 s minimum"
        for name, (_, _, code) in cases.items():
            (cs,) = last[name]["status"]["containerStatuses"]
            assert cs["state"]["terminated"]["exitCode"] == code, (ground.name, name, cs)
            assert last[name]["status"]["phase"] == "Failed"
    finally:
        unlisten()


@on_the_module_loop
async def test_the_logs_annotation_is_what_kubectl_logs_prints(ground: Ground) -> None:
    name = f"logs-{os.urandom(2).hex()}"
    ground.sandbox.store.create("pods", NS, pod(name, {LOGS: "pi is roughly 3.1416"}, command="/usr/sbin/sshd"))
    await ground.wait(name, running_for(0))
    async with aiohttp.ClientSession() as session, \
            session.get(f"{ground.sandbox.url}/api/v1/namespaces/{NS}/pods/{name}/log") as resp:
        assert resp.status == 200, await resp.text()
        assert await resp.text() == "pi is roughly 3.1416\n"


def test_both_read_one_set_of_annotations() -> None:
    """The node agent cannot import the sandbox (nor the sandbox the agent): the names are kept equal here."""
    constants = ("EXIT_CODE", "RUN_SECONDS", "FAILURES", "START_SECONDS", "READY_SECONDS", "UNSCHEDULABLE",
                 "EVICT_AFTER", "TERMINATION_SECONDS", "LOGS")
    names = {n: getattr(pod_annotations, n) for n in constants}
    assert set(names.values()) == set(pod_annotations.ANNOTATIONS)
    assert {n: getattr(simulated, n) for n in names} == names
    assert simulated.WORKER_ROLE_LABEL == (pod_annotations.JOB_ROLE_LABEL, "worker")
    documented = (REPO / "docs" / "sandbox-simulation.md").read_text()
    assert all(f"`{value}`" in documented for value in pod_annotations.ANNOTATIONS)

