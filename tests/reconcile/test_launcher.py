"""The launcher Job: the WaitForWorkersReady gate (also after resume, docs/decisions.md Q8), created suspended for a
suspended job, one restart-policy Warning per creation (Q41), template edits replaced or deferred (Q13),
suspend and resume, a launcher deleted by hand let go, one not ours reported."""

from __future__ import annotations

from typing import Any

import pytest

from mpi_operator.controller.sync.outcome import DONE, ResourceConflict, StepFailed
from tests.reconcile.fake import NAMESPACE, NOW, World, condition, converged, mpijob, run_pod, start_launcher


def suspended() -> dict[str, Any]:
    job = mpijob()
    job["spec"]["runPolicy"]["suspend"] = True
    return job


async def test_wait_for_workers_ready_holds_the_launcher_until_every_worker_is_ready() -> None:
    world = World(mpijob(launcherCreationPolicy="WaitForWorkersReady"))
    await converged(world)
    assert world.server("jobs", "pi-launcher") is None
    run_pod(world, "pi-worker-0")
    run_pod(world, "pi-worker-1", ready=False)  # Running is not enough
    await world.sync()
    assert ("create", "jobs", "pi-launcher") not in world.writes()
    run_pod(world, "pi-worker-1")
    await world.sync()
    assert ("create", "jobs", "pi-launcher") in world.writes()
    assert not (world.server("jobs", "pi-launcher") or {})["spec"].get("suspend")


async def test_a_suspended_job_gets_a_suspended_launcher_and_no_workers() -> None:
    world = World(suspended())
    await world.sync()
    assert world.writes() == [("create", "services", "pi"), ("create", "configmaps", "pi-config"),
                              ("create", "secrets", "pi-ssh"), ("create", "jobs", "pi-launcher"),
                              ("patch", "mpijobs/status", "pi")]
    assert (world.server("jobs", "pi-launcher") or {})["spec"]["suspend"] is True


async def test_an_overridden_restart_policy_warns_once_per_launcher_creation() -> None:
    job = mpijob()
    job["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["restartPolicy"] = "Never"
    world = World(job)
    await world.sync()
    assert ("Warning", "SetPodTemplateRestartPolicy") in world.events()
    assert (world.server("jobs", "pi-launcher") or {})["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    await world.sync()
    assert world.events() == []


async def test_a_refused_launcher_create_warns_and_fails_the_step() -> None:
    world = World(mpijob())
    world.fail("create", "jobs")
    with pytest.raises(StepFailed) as failed:
        await world.sync()
    assert failed.value.step == "creating the launcher Job"
    assert next(r.message for r in world.recorder.recorded if r.reason == "MPIJobFailed").startswith(
        "launcher pod created failed: ")


async def test_a_launcher_job_we_do_not_control_is_reported() -> None:
    world = World({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi-launcher",
                                                                         "namespace": NAMESPACE}}, mpijob())
    with pytest.raises(StepFailed) as failed:
        await world.sync()
    assert failed.value.step == "looking up the launcher Job" and isinstance(failed.value.cause, ResourceConflict)
    assert world.writes() == [] and world.events() == [("Warning", "ErrResourceExists")]


def edit_launcher_template(world: World, revision: str | None) -> None:
    world.edit("mpijobs", "pi", {"spec": {"mpiReplicaSpecs": {"Launcher": {"template": {
        "metadata": {"annotations": {"example.com/revision": revision} if revision else None}}}}}})


async def test_a_launcher_that_has_not_started_is_replaced_after_a_template_edit() -> None:
    world = World(mpijob())
    await converged(world)
    edit_launcher_template(world, "2")
    result = await world.sync()
    assert result.requeue and result.reason == "launcher Job replaced after a template change"
    assert world.writes()[-2:] == [("patch", "jobs", "pi-launcher"), ("delete", "jobs", "pi-launcher")]
    assert world.actions[-1].body == "Background"
    assert world.cached("Job", "pi-launcher") is None
    await world.sync()
    assert ("create", "jobs", "pi-launcher") in world.writes()


async def test_a_template_edit_of_a_running_launcher_is_deferred_with_one_warning() -> None:
    world = World(mpijob())
    await converged(world)
    start_launcher(world)
    await converged(world)
    edit_launcher_template(world, "2")
    assert await world.sync() == DONE
    assert world.writes() == [("patch", "mpijobs/status", "pi")]
    assert world.events() == [("Warning", "LauncherTemplateChangeDeferred")]
    deferred = condition(world, "LauncherTemplateChangeDeferred")
    assert deferred is not None and (deferred["status"], deferred["reason"]) == (
        "True", "LauncherTemplateChangeDeferred")
    await world.sync()
    assert world.writes() == [] and world.events() == []
    edit_launcher_template(world, None)
    await world.sync()
    assert world.writes() == [("patch", "mpijobs/status", "pi")]
    assert condition(world, "LauncherTemplateChangeDeferred") is None


async def test_resume_clears_the_start_time_then_unsuspends_the_launcher() -> None:
    world = World(suspended())
    await converged(world)
    world.edit("jobs", "pi-launcher", {"status": {"startTime": NOW}})
    world.edit("mpijobs", "pi", {"spec": {"runPolicy": {"suspend": False}}})
    await world.sync()
    launcher_writes = [w for w in world.writes() if w[1].startswith("jobs")]
    assert launcher_writes == [("patch", "jobs/status", "pi-launcher"), ("update", "jobs", "pi-launcher")]
    assert (world.server("jobs", "pi-launcher") or {})["spec"]["suspend"] is False


async def test_resume_waits_for_ready_workers_with_wait_for_workers_ready() -> None:
    job = suspended()
    job["spec"]["launcherCreationPolicy"] = "WaitForWorkersReady"
    world = World(job)
    await converged(world)
    world.edit("mpijobs", "pi", {"spec": {"runPolicy": {"suspend": False}}})
    await converged(world)
    assert (world.server("jobs", "pi-launcher") or {})["spec"]["suspend"] is True
    run_pod(world, "pi-worker-0")
    run_pod(world, "pi-worker-1")
    await world.sync()
    assert ("update", "jobs", "pi-launcher") in world.writes()


async def test_suspending_a_running_job_suspends_its_launcher_and_removes_its_workers() -> None:
    world = World(mpijob())
    await converged(world)
    run_pod(world, "pi-worker-0")
    world.edit("pods", "pi-worker-1", {"status": {"phase": "Pending"}})
    await converged(world)
    world.edit("mpijobs", "pi", {"spec": {"runPolicy": {"suspend": True}}})
    await world.sync()
    writes = world.writes()
    assert ("patch", "jobs", "pi-launcher") in writes
    assert {w for w in writes if w[0] == "delete"} == {("delete", "pods", "pi-worker-0"),
                                                      ("delete", "pods", "pi-worker-1")}
    assert (world.server("jobs", "pi-launcher") or {})["spec"]["suspend"] is True
    assert ("Normal", "MPIJobSuspended") in world.events()


async def test_a_launcher_deleted_by_hand_before_its_result_loses_our_finalizer() -> None:
    world = World(mpijob())
    await converged(world)
    world.edit("jobs", "pi-launcher", {"metadata": {"deletionTimestamp": NOW}})
    await world.sync()
    assert world.writes() == [("patch", "jobs", "pi-launcher")]
    assert world.server("jobs", "pi-launcher") is None  # our finalizer was its last: the server deleted it
    assert world.cached("Job", "pi-launcher") is None


async def test_a_launcher_job_the_cache_has_not_seen_yet_requeues_quietly() -> None:
    world = World(mpijob())
    await converged(world)
    world.informer("Job").assume_deleted(f"{NAMESPACE}/pi-launcher")
    result = await world.sync()
    assert result.requeue and result.reason == "jobs pi-launcher exists already"
    assert world.writes() == [("create", "jobs", "pi-launcher")] and world.events() == []


async def test_a_foreign_launcher_job_the_cache_cannot_see_is_reported_on_create() -> None:
    world = World(mpijob())
    world.tracker.add("jobs", {"apiVersion": "batch/v1", "kind": "Job",
                               "metadata": {"name": "pi-launcher", "namespace": NAMESPACE}})
    with pytest.raises(StepFailed) as failed:
        await world.sync()
    assert failed.value.step == "creating the launcher Job" and isinstance(failed.value.cause, ResourceConflict)
    assert world.events() == [("Warning", "ErrResourceExists")]
    assert ("patch", "mpijobs/status", "pi") not in world.writes()
