"""Service, ConfigMap, Secret: created once, repaired when they drift, never touched when not ours; an object the
cache did not know yet requeues quietly (docs/decisions.md Q15, Q36)."""

from __future__ import annotations

import pytest

from mpi_operator.controller.sync.outcome import DONE, ResourceConflict, StepFailed
from mpi_operator.kube.workqueue import Result
from tests.reconcile.fake import NAMESPACE, World, condition, converged, counter, mpijob

NEW_JOB_WRITES = [("create", "services", "pi"), ("create", "configmaps", "pi-config"),
                  ("create", "secrets", "pi-ssh"), ("create", "pods", "pi-worker-0"),
                  ("create", "pods", "pi-worker-1"), ("create", "jobs", "pi-launcher"),
                  ("patch", "mpijobs/status", "pi")]


async def test_a_new_job_gets_every_child_then_its_status_and_a_steady_state_writes_nothing() -> None:
    world = World(mpijob())
    assert await world.sync() == DONE
    assert world.writes() == NEW_JOB_WRITES
    assert world.events() == [("Normal", "MPIJobCreated")]
    assert counter(world.metrics.jobs_created) == 1
    created = condition(world, "Created")
    assert created is not None and created["message"] == f"MPIJob {NAMESPACE}/pi is created."

    assert await world.sync() == DONE
    assert world.writes() == [] and world.events() == []


async def test_service_drift_is_patched_back_with_extra_selector_keys_nulled() -> None:
    world = World(mpijob())
    await converged(world)
    world.edit("services", "pi", {"spec": {"selector": {"extra": "x"}, "publishNotReadyAddresses": True}})
    await world.sync()
    assert world.writes() == [("patch", "services", "pi")]
    assert world.actions[-1].body == {"spec": {"selector": {"extra": None}, "publishNotReadyAddresses": False}}


async def test_configmap_data_drift_is_patched_back() -> None:
    world = World(mpijob())
    await converged(world)
    wanted = (world.server("configmaps", "pi-config") or {})["data"]
    world.edit("configmaps", "pi-config", {"data": {"hostfile": "evil\n", "extra": "x"}})
    await world.sync()
    assert world.writes() == [("patch", "configmaps", "pi-config")]
    assert (world.server("configmaps", "pi-config") or {})["data"] == wanted


async def test_secret_keys_are_regenerated_only_when_the_key_set_is_wrong() -> None:
    world = World(mpijob())
    await converged(world)
    world.edit("secrets", "pi-ssh", {"data": {"ssh-publickey": "QUFBQQ=="}})
    await world.sync()
    assert world.writes() == []  # contents are never compared

    world.edit("secrets", "pi-ssh", {"data": {"ssh-publickey": None, "other": "eA=="}})
    await world.sync()
    assert world.writes() == [("update", "secrets", "pi-ssh")]
    assert sorted((world.server("secrets", "pi-ssh") or {})["data"]) == ["ssh-privatekey", "ssh-publickey"]


async def test_a_service_we_do_not_control_stops_the_sync_with_err_resource_exists() -> None:
    world = World({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "pi", "namespace": NAMESPACE},
                   "spec": {"clusterIP": "None"}}, mpijob())
    with pytest.raises(StepFailed) as failed:
        await world.sync()
    assert failed.value.step == "syncing the Service" and isinstance(failed.value.cause, ResourceConflict)
    assert str(failed.value) == ('syncing the Service: Resource "pi" of Kind "Service" already exists and is not '
                                 'managed by MPIJob')
    assert world.writes() == [] and world.events() == [("Warning", "ErrResourceExists")]
    assert world.recorder.recorded[0].about == "MPIJob/pi"


async def test_a_child_the_cache_has_not_seen_yet_requeues_quietly() -> None:
    world = World(mpijob())
    await converged(world)
    world.tracker.add("configmaps", {"kind": "ConfigMap", "metadata": {  # made by us, watch event not in yet
        "name": "pi-config", "namespace": NAMESPACE, "ownerReferences": [
            {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "name": "pi", "uid": "uid-pi",
             "controller": True}]}})
    world.informer("ConfigMap").assume_deleted(f"{NAMESPACE}/pi-config")
    result = await world.sync()
    assert result == Result(requeue=True, reason="configmaps pi-config exists already")
    assert world.writes() == [("create", "configmaps", "pi-config")]  # and nothing after it
    assert [a.verb for a in world.actions] == ["create", "list"]
    assert world.events() == []


async def test_a_foreign_child_the_cache_cannot_see_is_reported_on_create() -> None:
    world = World(mpijob())
    world.tracker.add("pods", {"kind": "Pod", "metadata": {"name": "pi-worker-0", "namespace": NAMESPACE}})
    with pytest.raises(StepFailed) as failed:
        await world.sync()
    assert failed.value.step == "syncing the worker pods"
    assert world.events() == [("Warning", "ErrResourceExists")]
    assert world.recorder.recorded[0].message == (
        'Resource "pi-worker-0" of Kind "Pod" already exists and is not managed by MPIJob')
    assert ("create", "jobs", "pi-launcher") not in world.writes()


async def test_a_secret_the_cache_has_not_seen_yet_requeues_before_the_workers() -> None:
    world = World(mpijob())
    await converged(world)
    world.informer("Secret").assume_deleted(f"{NAMESPACE}/pi-ssh")  # ours on the server, its event not in yet
    result = await world.sync()
    assert result == Result(requeue=True, reason="secrets pi-ssh exists already")
    assert world.writes() == [("create", "secrets", "pi-ssh")] and world.events() == []
