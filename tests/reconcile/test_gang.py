"""The PodGroup with gang scheduling: created with the job, patched only in the fields we own (docs/decisions.md Q27),
deleted on suspend and never recreated while suspended, not ours reported."""

from __future__ import annotations

import pytest

from mpi_operator.controller.options import ControllerOptions
from mpi_operator.controller.sync.outcome import StepFailed
from tests.reconcile.fake import NAMESPACE, World, converged, mpijob

VOLCANO = ControllerOptions(gang_scheduling="volcano")


async def test_a_podgroup_is_created_before_the_workers() -> None:
    world = World(mpijob(), options=VOLCANO)
    await world.sync()
    writes = world.writes()
    assert writes.index(("create", "podgroups", "pi")) < writes.index(("create", "pods", "pi-worker-0"))
    assert (world.server("podgroups", "pi") or {})["spec"]["minMember"] == 3


async def test_only_the_fields_we_own_are_patched_back() -> None:
    world = World(mpijob(), options=VOLCANO)
    await converged(world)
    world.edit("podgroups", "pi", {"spec": {"minTaskMember": {"worker": 2}}, "status": {"phase": "Running"}})
    await world.sync()
    assert world.writes() == []
    world.edit("podgroups", "pi", {"spec": {"minMember": 7}})
    await world.sync()
    assert world.writes() == [("patch", "podgroups", "pi")]
    assert world.actions[-1].body == {"spec": {"minMember": 3}}


async def test_suspend_deletes_the_podgroup_and_does_not_recreate_it() -> None:
    world = World(mpijob(), options=VOLCANO)
    await converged(world)
    world.edit("mpijobs", "pi", {"spec": {"runPolicy": {"suspend": True}}})
    await world.sync()
    assert ("delete", "podgroups", "pi") in world.writes()
    await converged(world)
    assert world.server("podgroups", "pi") is None


async def test_a_podgroup_we_do_not_control_is_reported() -> None:
    world = World({"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
                   "metadata": {"name": "pi", "namespace": NAMESPACE}, "spec": {"minMember": 1}}, mpijob(),
                  options=VOLCANO)
    with pytest.raises(StepFailed) as failed:
        await world.sync()
    assert failed.value.step == "syncing the PodGroup"
    assert world.events() == [("Warning", "ErrResourceExists")]
    assert [w for w in world.writes() if w[1] == "podgroups"] == []


async def test_a_podgroup_the_cache_has_not_seen_yet_requeues_before_the_workers() -> None:
    world = World(mpijob(), options=VOLCANO)
    world.tracker.add("podgroups", {"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup", "metadata": {
        "name": "pi", "namespace": NAMESPACE, "ownerReferences": [
            {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "name": "pi", "uid": "uid-pi",
             "controller": True}]}, "spec": {"minMember": 3}})  # ours, made by the last sync; no event yet
    result = await world.sync()
    assert result.requeue and result.reason == "podgroups pi exists already"
    assert world.writes()[-1] == ("create", "podgroups", "pi")
    assert not [w for w in world.writes() if w[1] in ("pods", "jobs")] and world.events() == []
