"""Every shipped example MPIJob runs to Succeeded on the sandbox with its simulated kubelet and Job controller:
workers start, the launcher pod runs and exits 0, the job passes through Running to Succeeded, and cleanup
(cleanPodPolicy Running) and the launcher finalizer release follow."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from mpi_operator.controller.names import LAUNCHER_FINALIZER
from mpi_operator.sandbox.cluster import Cluster, JobControllerOptions, KubeletOptions
from tests.conftest import examples_dir
from tests.controller_it.cluster_stand_in import JOBS, condition, events, gone_or_terminating, mpijob
from tests.controller_it.conftest import MPIJOBS, Env, example, running_env

pytestmark = pytest.mark.asyncio(loop_scope="module")
FAST = KubeletOptions(schedule_delay=0.0, start_delay=0.02, run_seconds=0.5, restart_delay=0.02)
EXAMPLES = sorted(path.name for path in examples_dir().glob("*.yaml"))


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim(tmp_path_factory: Any) -> AsyncIterator[Env]:
    async with (running_env(tmp_path_factory.mktemp("kube") / "config") as started,
                Cluster(started.sb.store, kubelet=FAST, job_controller=JobControllerOptions())):
        yield started


@pytest.mark.parametrize("name", EXAMPLES)
async def test_example_runs_to_succeeded(sim: Env, name: str) -> None:
    ns = sim.namespace()
    manifest = example(name)
    job_name = manifest["metadata"]["name"]
    sim.sb.store.create(MPIJOBS, ns, manifest)

    done = await sim.eventually(lambda: condition(mpijob(sim, ns, job_name), "Succeeded") and
                                mpijob(sim, ns, job_name), within=20, what=f"{name} Succeeded")
    assert condition(done, "Succeeded")["status"] == "True"  # type: ignore[index]
    assert condition(done, "Failed") is None
    running = condition(done, "Running")
    assert running is not None and running["reason"] == "MPIJobRunning" and running["status"] == "False"
    assert done["status"]["replicaStatuses"]["Launcher"] == {"succeeded": 1}
    assert done["status"]["completionTime"] >= done["status"]["startTime"]
    workers = manifest["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"]
    await sim.eventually(lambda: all(gone_or_terminating(sim, ns, f"{job_name}-worker-{i}") for i in range(workers)),
                         what="workers cleaned up")
    await sim.eventually(lambda: LAUNCHER_FINALIZER not in (sim.get(JOBS, ns, f"{job_name}-launcher") or {}).get(
        "metadata", {}).get("finalizers", []), what="launcher finalizer released")
    for reason in ("MPIJobCreated", "MPIJobRunning", "MPIJobSucceeded"):
        assert len(events(sim, ns, reason)) == 1, reason
