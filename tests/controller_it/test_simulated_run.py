"""Every shipped example MPIJob runs to Succeeded on the sandbox with its simulated kubelet and Job controller:
workers start, the launcher pod runs and exits 0, the job passes through Running to Succeeded, and cleanup
(cleanPodPolicy Running) and the launcher finalizer release follow."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from mpi_operator.controller.names import LAUNCHER_FINALIZER
from mpi_operator.sandbox.cluster import Cluster, JobControllerOptions, KubeletOptions
from mpi_operator.sandbox.cluster.annotations import EVICT_AFTER, EXIT_CODE, FAILURES, RUN_SECONDS
from tests.conftest import REPO, examples_dir
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
    # Events are written in the background after the status: wait for them, then expect one of each.
    reasons = ("MPIJobCreated", "MPIJobRunning", "MPIJobSucceeded")
    await sim.eventually(lambda: all(events(sim, ns, reason) for reason in reasons), what="events")
    await sim.settled()
    for reason in reasons:
        assert [e.get("count", 1) for e in events(sim, ns, reason)] == [1], reason


def annotated(name: str, launcher: dict[str, str] | None = None, worker: dict[str, str] | None = None,
              **run_policy: Any) -> dict[str, Any]:
    manifest = example("pi.yaml")
    manifest["metadata"]["name"] = name
    replicas = manifest["spec"]["mpiReplicaSpecs"]
    replicas["Launcher"]["restartPolicy"] = "Never"
    for replica, wanted in (("Launcher", launcher), ("Worker", worker)):
        if wanted:
            replicas[replica]["template"].setdefault("metadata", {})["annotations"] = wanted
    manifest["spec"]["runPolicy"].update(run_policy)
    return manifest


async def test_launcher_that_keeps_failing_fails_the_job_with_backoff_limit_exceeded(sim: Env) -> None:
    ns = sim.namespace()
    sim.sb.store.create(MPIJOBS, ns, annotated("broken", launcher={EXIT_CODE: "1"}, backoffLimit=1))
    done = await sim.eventually(lambda: condition(mpijob(sim, ns, "broken"), "Failed") and
                                mpijob(sim, ns, "broken"), within=20, what="Failed")
    failed = condition(done, "Failed")
    assert failed is not None and failed["reason"].startswith("BackoffLimitExceeded")
    assert done["status"]["replicaStatuses"]["Launcher"] == {"failed": 2}
    assert done["status"]["completionTime"]
    await sim.eventually(lambda: all(gone_or_terminating(sim, ns, f"broken-worker-{i}") for i in range(2)),
                         what="workers cleaned up")


async def test_launcher_that_fails_once_then_succeeds_reports_both(sim: Env) -> None:
    ns = sim.namespace()
    sim.sb.store.create(MPIJOBS, ns, annotated("flaky", launcher={FAILURES: "1", EXIT_CODE: "1"}, backoffLimit=3))
    done = await sim.eventually(lambda: condition(mpijob(sim, ns, "flaky"), "Succeeded") and
                                mpijob(sim, ns, "flaky"), within=20, what="Succeeded")
    assert done["status"]["replicaStatuses"]["Launcher"] == {"succeeded": 1, "failed": 1}
    assert condition(done, "Failed") is None


async def test_evicted_worker_fails_the_running_job_and_stops_its_launcher(sim: Env) -> None:
    ns = sim.namespace()
    sim.sb.store.create(MPIJOBS, ns, annotated("evicted", launcher={RUN_SECONDS: "forever"},
                                               worker={EVICT_AFTER: "0.5"}))
    done = await sim.eventually(lambda: condition(mpijob(sim, ns, "evicted"), "Failed") and
                                mpijob(sim, ns, "evicted"), within=20, what="Failed")
    failed = condition(done, "Failed")
    assert failed is not None and failed["reason"] == "MPIJobEvicted"
    await sim.eventually(lambda: (sim.get(JOBS, ns, "evicted-launcher") or {}).get("spec", {}).get("suspend"),
                         what="launcher suspended")
    await sim.eventually(lambda: not [p for p in sim.list("pods", ns)
                                      if p["metadata"]["labels"].get("training.kubeflow.org/job-role") == "launcher"],
                         what="launcher pod gone")
    await sim.settled()
    assert condition(mpijob(sim, ns, "evicted"), "Succeeded") is None


async def test_suspend_and_resume_a_running_job(sim: Env) -> None:
    ns = sim.namespace()
    sim.sb.store.create(MPIJOBS, ns, annotated("pause", launcher={RUN_SECONDS: "forever"}))
    await sim.eventually(lambda: condition(mpijob(sim, ns, "pause"), "Running"), within=20, what="Running")

    sim.sb.store.patch(MPIJOBS, ns, "pause", "merge", {"spec": {"runPolicy": {"suspend": True}}})
    await sim.eventually(lambda: sim.list("pods", ns) == [], within=20, what="every pod gone")
    await sim.eventually(lambda: (c := condition(mpijob(sim, ns, "pause"), "Running")) and c["status"] == "False",
                         what="Running=False")

    sim.sb.store.patch(MPIJOBS, ns, "pause", "merge", {"spec": {"runPolicy": {"suspend": False}}})
    running = await sim.eventually(lambda: (j := mpijob(sim, ns, "pause")) and (c := condition(j, "Running"))
                                   and c["status"] == "True" and j, within=20, what="Running again")
    assert condition(running, "Suspended")["reason"] == "MPIJobResumed"  # type: ignore[index]
    # One Event per transition to Running; the repeat is aggregated into the same Event's count.
    await sim.eventually(lambda: sum(e.get("count", 1) for e in events(sim, ns, "MPIJobRunning")) == 2,
                         what="second MPIJobRunning")


async def test_every_example_runs_to_succeeded_through_kubectl(sim: Env, tmp_path: Any) -> None:
    """As a user would: `kubectl apply -f` each shipped example unchanged, then `kubectl wait` for Succeeded."""
    kubectl = str(REPO / ".venv" / "bin" / "kubectl")
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(sim.sb.kubeconfig_path)}

    async def run(*args: str) -> str:
        proc = await asyncio.create_subprocess_exec(kubectl, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode == 0, out.decode()
        return out.decode()

    for name in EXAMPLES:
        ns = sim.namespace()
        path = examples_dir() / name
        job_name = example(name)["metadata"]["name"]
        assert "created" in await run("apply", "-n", ns, "-f", str(path))
        await run("wait", "-n", ns, "--for=condition=Succeeded", f"mpijob/{job_name}", "--timeout=60s")
        listed = await run("get", "-n", ns, "mpijobs")
        assert job_name in listed and "Succeeded" in listed
