"""Worker pods: scale-down by the real index, a pod without index left alone with one Warning, template edits
replace only pods not Running yet, a refused create warns `MPIJobFailed` (docs/decisions.md Q9, Q10, Q13)."""

from __future__ import annotations

import pytest

from mpi_operator.controller.sync.outcome import StepFailed
from tests.reconcile.fake import NAMESPACE, World, converged, mpijob, run_pod


async def test_scale_down_deletes_the_highest_index_once() -> None:
    world = World(mpijob())
    await converged(world)
    world.edit("mpijobs", "pi", {"spec": {"mpiReplicaSpecs": {"Worker": {"replicas": 1}}}})
    await world.sync()
    assert ("delete", "pods", "pi-worker-1") in world.writes()
    assert [w for w in world.writes() if w[0] == "delete"] == [("delete", "pods", "pi-worker-1")]
    cached = world.cached("Pod", "pi-worker-1")
    assert cached is not None and cached["metadata"]["deletionTimestamp"]  # the answer, terminating, is cached
    await world.sync()
    assert [w for w in world.writes() if w[0] == "delete"] == []


async def test_scale_down_with_run_launcher_as_worker_compares_the_real_index() -> None:
    world = World(mpijob(runLauncherAsWorker=True))
    await converged(world)
    world.edit("mpijobs", "pi", {"spec": {"mpiReplicaSpecs": {"Worker": {"replicas": 1}}}})
    await world.sync()
    assert [w for w in world.writes() if w[0] == "delete"] == [("delete", "pods", "pi-worker-1")]


async def test_a_worker_without_index_label_is_left_alone_with_one_warning() -> None:
    world = World(mpijob())
    await converged(world)
    world.edit("pods", "pi-worker-1", {"metadata": {"labels": {"training.kubeflow.org/replica-index": None}}})
    world.edit("mpijobs", "pi", {"spec": {"mpiReplicaSpecs": {"Worker": {"replicas": 1}}}})
    await world.sync()
    assert [w for w in world.writes() if w[0] == "delete"] == []
    assert world.events() == [("Warning", "WorkerWithoutIndex")]
    assert world.recorder.recorded[0].message == (
        "Worker pod pi-worker-1 has no training.kubeflow.org/replica-index label; left alone")
    await world.sync()
    assert world.events() == []


async def test_a_worker_template_edit_replaces_only_pods_not_yet_running() -> None:
    world = World(mpijob())
    await converged(world)
    run_pod(world, "pi-worker-0")
    await converged(world)
    world.edit("mpijobs", "pi", {"spec": {"mpiReplicaSpecs": {"Worker": {"template": {
        "metadata": {"annotations": {"example.com/revision": "2"}}}}}}})
    await world.sync()
    assert [w for w in world.writes() if w[1] == "pods"] == [("delete", "pods", "pi-worker-1")]


async def test_a_refused_worker_create_warns_and_fails_the_step() -> None:
    world = World(mpijob())
    world.fail("create", "pods")
    with pytest.raises(StepFailed) as failed:
        await world.sync()
    assert failed.value.step == "syncing the worker pods"
    assert next(r for r in world.recorder.recorded if r.reason == "MPIJobFailed").message.startswith(
        "worker pod created failed: ")
    assert ("create", "pods", "pi-worker-1") in world.writes()  # every create ran before the failure
    assert ("create", "jobs", "pi-launcher") not in world.writes()
    world.heal()
    await converged(world)
    assert world.server("jobs", "pi-launcher") is not None


async def test_a_worker_the_cache_has_not_seen_yet_requeues_before_the_launcher() -> None:
    world = World(mpijob())
    await converged(world)
    world.informer("Pod").assume_deleted("ml/pi-worker-1")
    result = await world.sync()
    assert result.requeue and result.reason == "pods pi-worker-1 exists already"
    assert world.writes() == [("create", "pods", "pi-worker-1")]


async def test_a_job_without_workers_gets_only_its_launcher() -> None:
    job = mpijob()
    del job["spec"]["mpiReplicaSpecs"]["Worker"]
    world = World(job)
    await world.sync()
    assert world.writes() == [("create", "services", "pi"), ("create", "configmaps", "pi-config"),
                              ("create", "secrets", "pi-ssh"), ("create", "jobs", "pi-launcher"),
                              ("patch", "mpijobs/status", "pi")]


async def test_a_worker_already_gone_from_the_server_is_deleted_without_error() -> None:
    world = World(mpijob())
    await converged(world)
    world.edit("mpijobs", "pi", {"spec": {"mpiReplicaSpecs": {"Worker": {"replicas": 1}}}})
    del world.tracker.objects[("pods", NAMESPACE, "pi-worker-1")]  # gone; the cache has not heard yet
    await world.sync()
    assert [w for w in world.writes() if w[0] == "delete"] == [("delete", "pods", "pi-worker-1")]
    assert world.cached("Pod", "pi-worker-1") is None
    await world.sync()
    assert world.writes() == []
