"""The first branches of a sync: a malformed key, an MPIJob that is gone, one managed by MultiKueue, one being
deleted, and a launcher Job left behind by an earlier MPIJob of the same name (docs/decisions.md Q3, Q31)."""

from __future__ import annotations

import copy

import pytest

from mpi_operator.controller.finalizer import LAUNCHER_FINALIZER
from mpi_operator.controller.sync.outcome import DONE, ResourceConflict, StepFailed, step
from tests.reconcile.fake import NOW, World, converged, mpijob


async def test_a_malformed_key_is_dropped_without_a_request() -> None:
    world = World(mpijob())
    assert await world.sync("no-slash") == DONE
    assert world.actions == [] and world.events() == []


async def test_a_gone_mpijob_without_launcher_costs_nothing() -> None:
    world = World()
    assert await world.sync() == DONE
    assert world.actions == []


async def test_a_gone_mpijob_releases_the_finalizer_of_its_launcher_job() -> None:
    world = World(mpijob())
    await converged(world)
    world.remove("mpijobs", "pi")
    assert await world.sync() == DONE
    assert world.writes() == [("patch", "jobs", "pi-launcher")]
    assert world.actions[0].body["metadata"]["finalizers"] is None
    assert world.actions[0].body["metadata"]["resourceVersion"]  # guarded by the version read
    assert LAUNCHER_FINALIZER not in (world.cached("Job", "pi-launcher") or {})["metadata"].get("finalizers", [])


async def test_a_job_managed_by_multikueue_is_left_alone() -> None:
    job = mpijob()
    job["spec"]["runPolicy"]["managedBy"] = "kueue.x-k8s.io/multikueue"
    world = World(job)
    assert await world.sync() == DONE
    assert world.actions == [] and world.events() == []


async def test_an_mpijob_being_deleted_only_releases_the_launcher_finalizer() -> None:
    world = World(mpijob())
    await converged(world)
    world.edit("mpijobs", "pi", {"metadata": {"deletionTimestamp": NOW}})
    assert await world.sync() == DONE
    assert world.writes() == [("patch", "jobs", "pi-launcher")]


async def test_a_launcher_of_an_earlier_mpijob_of_that_name_is_released_then_reported() -> None:
    world = World(mpijob())
    await converged(world)
    replaced = copy.deepcopy(world.server("mpijobs", "pi"))
    assert replaced is not None
    world.remove("mpijobs", "pi")
    replaced["metadata"]["uid"] = "uid-new"
    del replaced["status"]
    world.load(replaced)
    with pytest.raises(StepFailed) as failed:
        await world.sync()
    assert failed.value.step == "looking up the launcher Job" and isinstance(failed.value.cause, ResourceConflict)
    assert world.writes()[0] == ("patch", "jobs", "pi-launcher")  # the finalizer goes first
    assert world.events() == [("Warning", "ErrResourceExists")]
    assert world.recorder.recorded[0].message == (
        'Resource "pi-launcher" of Kind "Job" already exists and is not managed by MPIJob')


async def test_an_earlier_launcher_being_deleted_is_gone_from_the_cache_once_released() -> None:
    """The old MPIJob was deleted and the garbage collector is deleting its launcher Job, held by our finalizer; a
    new MPIJob of that name releases it, which deletes it. The release's answer must not stay cached: its DELETED
    event may have come first, and a cached phantom would block the new job for good (seen once in CI)."""
    world = World(mpijob())
    await converged(world)
    replaced = copy.deepcopy(world.server("mpijobs", "pi"))
    assert replaced is not None
    world.remove("mpijobs", "pi")
    world.edit("jobs", "pi-launcher", {"metadata": {"deletionTimestamp": NOW}})
    replaced["metadata"]["uid"] = "uid-new"
    del replaced["status"]
    world.load(replaced)
    with pytest.raises(StepFailed):
        await world.sync()
    assert world.server("jobs", "pi-launcher") is None and world.cached("Job", "pi-launcher") is None
    for plural, name in (("services", "pi"), ("configmaps", "pi-config"), ("secrets", "pi-ssh"),
                         ("pods", "pi-worker-0"), ("pods", "pi-worker-1")):
        world.remove(plural, name)  # the garbage collector's part: the old job's other children go
    await world.sync()
    launcher = world.server("jobs", "pi-launcher")
    assert launcher is not None and launcher["metadata"]["ownerReferences"][0]["uid"] == "uid-new"


def test_a_failure_is_named_by_its_innermost_step() -> None:
    with pytest.raises(StepFailed) as failed, step("syncing the worker pods"), step("creating pod pi-worker-0"):
        raise RuntimeError("refused")
    assert failed.value.step == "creating pod pi-worker-0"
    assert str(failed.value) == "creating pod pi-worker-0: refused"
