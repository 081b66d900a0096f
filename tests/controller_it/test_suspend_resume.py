"""Suspending an MPIJob suspends its launcher Job and deletes its workers; resuming creates the workers again
and unsuspends the launcher (its startTime cleared first, scheduling directives synced); a job created
suspended gets its Service, ConfigMap, Secret and a suspended launcher Job, but no workers."""

from __future__ import annotations

import copy

import pytest

from mpi_operator.sandbox.timefmt import now_rfc3339
from tests.controller_it.cluster import (
    JOBS,
    condition,
    events,
    gone_or_terminating,
    kubelet_removes,
    live,
    mpijob,
    replica_status,
    set_job_status,
    set_pod_running,
    start_launcher,
)
from tests.controller_it.conftest import MPIJOBS, Env, example

pytestmark = pytest.mark.asyncio(loop_scope="module")
WORKERS = ("pi-worker-0", "pi-worker-1")


def set_suspend(env: Env, ns: str, value: bool, launcher_template: dict[str, object] | None = None) -> None:
    patch: dict[str, object] = {"spec": {"runPolicy": {"suspend": value}}}
    if launcher_template is not None:
        patch["spec"] = {**patch["spec"],  # type: ignore[dict-item]
                         "mpiReplicaSpecs": {"Launcher": {"template": launcher_template}}}
    env.patch(MPIJOBS, ns, "pi", "merge", patch)


def launcher_suspended(env: Env, ns: str) -> bool | None:
    job = env.get(JOBS, ns, "pi-launcher")
    return None if job is None else bool(job["spec"].get("suspend"))


async def suspended_after_running(env: Env) -> str:
    """A pi job that ran (workers and launcher pod Running), then was suspended; the kubelet has removed the
    workers and the Job controller has stopped the launcher pod (startTime kept, as a suspended Job does)."""
    ns = env.namespace()
    env.create(MPIJOBS, ns, example("pi.yaml"))
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    for name in WORKERS:
        set_pod_running(env, ns, name)
    start_launcher(env, ns, "pi-launcher")
    await env.eventually(lambda: condition(mpijob(env, ns, "pi"), "Running"), what="Running condition")

    set_suspend(env, ns, True)
    await env.eventually(lambda: launcher_suspended(env, ns) is True, what="launcher Job suspended")
    await env.eventually(lambda: all(gone_or_terminating(env, ns, name) for name in WORKERS), what="workers deleted")
    for name in WORKERS:
        kubelet_removes(env, ns, name)
    set_job_status(env, ns, "pi-launcher", {"active": 0})
    await env.settled()
    return ns


async def test_suspending_a_running_job_stops_launcher_and_workers(env: Env) -> None:
    ns = await suspended_after_running(env)
    job = mpijob(env, ns, "pi")
    suspended = condition(job, "Suspended")
    assert suspended is not None
    assert (suspended["status"], suspended["reason"], suspended["message"]) == (
        "True", "MPIJobSuspended", "MPIJob suspended")
    running = condition(job, "Running")
    assert running is not None
    assert (running["status"], running["reason"], running["message"]) == (
        "False", "MPIJobSuspended", f"MPIJob {ns}/pi is suspended.")
    # Worker `{}`; Launcher active counts the launcher pod still running (the Job controller stops it).
    assert job["status"]["replicaStatuses"] == {"Launcher": {"active": 1}, "Worker": {}}
    assert env.get("pods", ns, "pi-worker-0") is None and env.get("pods", ns, "pi-worker-1") is None
    emitted = events(env, ns, "MPIJobSuspended")
    assert len(emitted) == 1 and emitted[0]["type"] == "Normal" and emitted[0]["message"] == "MPIJob suspended"


async def test_resume_creates_workers_and_unsuspends_the_launcher_after_clearing_its_start_time(env: Env) -> None:
    ns = await suspended_after_running(env)
    launcher = env.get(JOBS, ns, "pi-launcher")
    assert launcher is not None and launcher["status"].get("startTime")
    started = mpijob(env, ns, "pi")["status"]["startTime"]
    await env.eventually(lambda: now_rfc3339() > started, what="clock tick")  # so a reset startTime differs

    env.requests.reset()
    set_suspend(env, ns, False)
    await env.eventually(lambda: launcher_suspended(env, ns) is False, what="launcher unsuspended")
    # The startTime went through the Job's status subresource (an update of the Job cannot change status).
    assert env.requests.count(resource="jobs.batch/status", namespace=ns) == 1
    resumed_launcher = env.get(JOBS, ns, "pi-launcher")
    assert resumed_launcher is not None
    assert resumed_launcher["metadata"]["uid"] == launcher["metadata"]["uid"]  # the same Job, not a new one
    assert not resumed_launcher["status"].get("startTime")
    await env.eventually(lambda: all(live(env, ns, name) for name in WORKERS), what="workers created again")

    job = await env.eventually(lambda: (j := mpijob(env, ns, "pi")) and condition(j, "Suspended")
                               and condition(j, "Suspended")["status"] == "False" and j,  # type: ignore[index]
                               what="Suspended=False")
    resumed = condition(job, "Suspended")
    assert resumed is not None and (resumed["reason"], resumed["message"]) == ("MPIJobResumed", "MPIJob resumed")
    assert job["status"]["startTime"] > started
    emitted = await env.eventually(lambda: events(env, ns, "MPIJobResumed"), what="MPIJobResumed event")
    assert emitted[0]["type"] == "Normal" and emitted[0]["message"] == "MPIJob resumed"


async def test_launcher_template_edited_while_suspended_applies_on_resume(env: Env) -> None:
    ns = await suspended_after_running(env)
    directives = {"metadata": {"labels": {"kueue.x-k8s.io/flavor": "a100"}},
                  "spec": {"nodeSelector": {"gpu": "a100"},
                           "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]}}
    # Kueue's way: inject the scheduling directives and unsuspend in one update.
    set_suspend(env, ns, False, launcher_template=directives)
    await env.eventually(lambda: launcher_suspended(env, ns) is False, what="launcher unsuspended")
    await env.settled()
    launcher = env.get(JOBS, ns, "pi-launcher")
    assert launcher is not None and launcher["spec"]["suspend"] is False
    template = launcher["spec"]["template"]
    assert template["metadata"]["labels"]["kueue.x-k8s.io/flavor"] == "a100"
    assert template["spec"]["nodeSelector"] == {"gpu": "a100"}
    assert template["spec"]["tolerations"] == directives["spec"]["tolerations"]  # type: ignore[index]


async def test_job_created_suspended_gets_a_suspended_launcher_and_no_workers(env: Env) -> None:
    ns = env.namespace()
    job = copy.deepcopy(example("pi.yaml"))
    job["spec"]["runPolicy"]["suspend"] = True
    env.create(MPIJOBS, ns, job)
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    await env.settled()
    assert launcher_suspended(env, ns) is True
    for resource, name in [("services", "pi"), ("configmaps", "pi-config"), ("secrets", "pi-ssh")]:
        assert env.get(resource, ns, name) is not None, f"{resource}/{name} missing"
    assert [p["metadata"]["name"] for p in env.list("pods", ns)] == []

    current = mpijob(env, ns, "pi")
    assert [c["type"] for c in current["status"]["conditions"]] == ["Created", "Suspended", "Running"]
    assert condition(current, "Suspended")["status"] == "True"  # type: ignore[index]
    assert condition(current, "Running")["reason"] == "MPIJobSuspended"  # type: ignore[index]
    assert not current["status"].get("startTime")
    assert replica_status(env, ns, "pi", "Worker") == {}
    assert len(events(env, ns, "MPIJobSuspended")) == 1


async def test_resume_with_an_edited_template_replaces_a_launcher_that_had_run(env: Env) -> None:
    ns = await suspended_after_running(env)
    set_job_status(env, ns, "pi-launcher", {"failed": 1})  # it had started (and failed) a pod before
    old = env.get(JOBS, ns, "pi-launcher")
    assert old is not None
    set_suspend(env, ns, False, launcher_template={"spec": {"nodeSelector": {"gpu": "h100"}}})
    new = await env.eventually(
        lambda: (j := env.get(JOBS, ns, "pi-launcher")) and j["metadata"]["uid"] != old["metadata"]["uid"] and j,
        what="launcher Job replaced")
    assert not new["spec"].get("suspend")
    assert new["spec"]["template"]["spec"]["nodeSelector"] == {"gpu": "h100"}
    await env.settled()
    assert condition(mpijob(env, ns, "pi"), "LauncherTemplateChangeDeferred") is None
    assert events(env, ns, "LauncherTemplateChangeDeferred") == []
