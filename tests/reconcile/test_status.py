"""The status and what follows its write: Running on the transition only, success and failure of the launcher,
the finished path (finalizer released, cleanPodPolicy applied), eviction that fails the job for good and
suspends its launcher, and Events and counters only after a status write that succeeded (docs/decisions.md Q16-Q22,
Q31)."""

from __future__ import annotations

import pytest

from mpi_operator.controller.finalizer import LAUNCHER_FINALIZER
from mpi_operator.controller.sync.outcome import StepFailed
from tests.reconcile.fake import (
    NAMESPACE,
    World,
    condition,
    converged,
    counter,
    finish_launcher,
    mpijob,
    pod_status,
    run_pod,
    start_launcher,
)


def job_info(world: World) -> float | None:
    for m in world.metrics.job_info.collect():
        for s in m.samples:
            if s.labels == {"launcher": "pi-launcher", "namespace": NAMESPACE}:
                return float(s.value)
    return None


async def running(world: World) -> None:
    await converged(world)
    run_pod(world, "pi-worker-0")
    run_pod(world, "pi-worker-1")
    await world.sync()
    # discover_hosts.sh lists Running workers; the Worker replica status counts them.
    assert world.writes() == [("patch", "configmaps", "pi-config"), ("patch", "mpijobs/status", "pi")]
    start_launcher(world)
    await world.sync()


async def test_running_is_written_and_announced_on_the_transition_only() -> None:
    world = World(mpijob())
    await running(world)
    assert world.writes() == [("patch", "mpijobs/status", "pi")]
    assert world.events() == [("Normal", "MPIJobRunning")]
    assert (condition(world, "Running") or {}).get("status") == "True"
    assert (world.server("mpijobs", "pi") or {})["status"]["replicaStatuses"] == {
        "Launcher": {"active": 1}, "Worker": {"active": 2}}
    assert job_info(world) == 1
    await world.sync()
    assert world.writes() == [] and world.events() == []


async def test_a_complete_launcher_succeeds_the_job_and_finishes_it_in_the_same_sync() -> None:
    world = World(mpijob())
    await running(world)
    finish_launcher(world, succeeded=1)
    await world.sync()
    assert world.writes() == [("patch", "mpijobs/status", "pi"), ("patch", "jobs", "pi-launcher"),
                              ("delete", "pods", "pi-worker-0"), ("delete", "pods", "pi-worker-1"),
                              ("patch", "mpijobs/status", "pi")]
    assert world.events() == [("Normal", "MPIJobSucceeded")]
    assert counter(world.metrics.jobs_successful) == 1
    status = (world.server("mpijobs", "pi") or {})["status"]
    assert status["completionTime"] and status["replicaStatuses"]["Worker"] == {}
    assert LAUNCHER_FINALIZER not in (world.server("jobs", "pi-launcher") or {})["metadata"].get("finalizers", [])


async def test_clean_pod_policy_none_leaves_the_workers_of_a_finished_job() -> None:
    world = World(mpijob(runPolicy={"cleanPodPolicy": "None"}))
    await running(world)
    finish_launcher(world, succeeded=1)
    await world.sync()
    assert world.writes() == [("patch", "mpijobs/status", "pi"), ("patch", "jobs", "pi-launcher"),
                              ("patch", "mpijobs/status", "pi")]  # no pod is deleted
    assert world.server("pods", "pi-worker-0") is not None and world.server("pods", "pi-worker-1") is not None
    await world.sync()
    assert world.writes() == []


async def test_a_finished_job_takes_the_finished_path_only_and_then_writes_nothing() -> None:
    world = World(mpijob())
    await running(world)
    finish_launcher(world, succeeded=1)
    await converged(world)
    world.edit("mpijobs", "pi", {"metadata": {"labels": {"touched": "yes"}}})
    await world.sync()
    assert world.writes() == [] and world.events() == []
    assert counter(world.metrics.jobs_successful) == 1


async def test_a_failed_launcher_fails_the_job_with_its_reason() -> None:
    world = World(mpijob())
    await running(world)
    finish_launcher(world, "Failed", failed=2)
    await world.sync()
    failed = condition(world, "Failed")
    assert failed is not None and failed["reason"] == "BackoffLimitExceeded"
    assert ("Warning", "BackoffLimitExceeded") in world.events()
    assert counter(world.metrics.jobs_failed) == 1


async def test_an_evicted_worker_fails_the_job_for_good_and_suspends_its_launcher() -> None:
    world = World(mpijob())
    await running(world)
    world.edit("pods", "pi-worker-1", pod_status("Failed", reason="Evicted", message="low on memory"))
    await world.sync()
    writes = world.writes()
    assert writes[0] == ("patch", "configmaps", "pi-config")  # pi-worker-1 no longer Running
    assert writes.index(("patch", "jobs", "pi-launcher")) < writes.index(("patch", "mpijobs/status", "pi"))
    assert ("delete", "pods", "pi-worker-0") in writes
    assert (world.server("jobs", "pi-launcher") or {})["spec"]["suspend"] is True
    failed = condition(world, "Failed")
    assert failed is not None and failed["reason"] == "MPIJobEvicted" and failed["message"] == (
        "1/2 workers are evicted")
    assert ("Warning", "MPIJobEvicted") in world.events()


async def test_events_and_counters_wait_for_a_status_write_that_succeeds() -> None:
    world = World(mpijob())
    world.fail("patch", "mpijobs/status")
    with pytest.raises(StepFailed) as failed:
        await world.sync()
    assert failed.value.step == "writing the status"
    assert world.events() == [] and counter(world.metrics.jobs_created) == 0
    world.heal()
    await world.sync()
    assert world.events() == [("Normal", "MPIJobCreated")]
    assert counter(world.metrics.jobs_created) == 1
