"""docs/decisions.md Q13: an edited Worker template replaces the worker pods that are not Running yet; an edited
Launcher template replaces a launcher Job that has not started, and is deferred (Warning) for a running one."""

from __future__ import annotations

import pytest

from tests.controller_it.cluster import (
    JOBS,
    condition,
    events,
    live,
    mpijob,
    set_pod_running,
    start_launcher,
)
from tests.controller_it.conftest import MPIJOBS, Env, example

pytestmark = pytest.mark.asyncio(loop_scope="module")


def uid(env: Env, resource: str, ns: str, name: str) -> str | None:
    obj = env.get(resource, ns, name)
    return None if obj is None else str(obj["metadata"]["uid"])


def edit_template(env: Env, ns: str, replica: str, env_value: str) -> None:
    """Add an annotation to the replica's pod template (a template edit that the API accepts)."""
    env.patch(MPIJOBS, ns, "pi", "merge", {"spec": {"mpiReplicaSpecs": {replica: {"template": {
        "metadata": {"annotations": {"example.com/revision": env_value}}}}}}})


async def new_job(env: Env) -> str:
    ns = env.namespace()
    env.create(MPIJOBS, ns, example("pi.yaml"))
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    return ns


async def test_worker_template_change_replaces_only_workers_not_yet_running(env: Env) -> None:
    ns = await new_job(env)
    set_pod_running(env, ns, "pi-worker-0")
    await env.settled()
    running_uid, pending_uid = uid(env, "pods", ns, "pi-worker-0"), uid(env, "pods", ns, "pi-worker-1")

    edit_template(env, ns, "Worker", "2")
    # An unscheduled pod is removed at once (no kubelet to wait for), so the replacement follows directly.
    await env.eventually(lambda: live(env, ns, "pi-worker-1") and uid(env, "pods", ns, "pi-worker-1") != pending_uid,
                         what="pending worker recreated")
    await env.settled()
    replaced = env.get("pods", ns, "pi-worker-1")
    assert replaced is not None and replaced["metadata"]["annotations"]["example.com/revision"] == "2"
    assert uid(env, "pods", ns, "pi-worker-0") == running_uid
    assert live(env, ns, "pi-worker-0")


async def test_launcher_template_change_replaces_a_launcher_that_has_not_started(env: Env) -> None:
    ns = await new_job(env)
    await env.settled()
    before = uid(env, JOBS, ns, "pi-launcher")

    edit_template(env, ns, "Launcher", "2")
    await env.eventually(lambda: uid(env, JOBS, ns, "pi-launcher") not in (None, before), what="new launcher Job")
    await env.settled()
    launcher = env.get(JOBS, ns, "pi-launcher")
    assert launcher is not None
    assert launcher["spec"]["template"]["metadata"]["annotations"]["example.com/revision"] == "2"
    assert not launcher["metadata"].get("deletionTimestamp")


async def test_launcher_template_change_is_deferred_with_a_warning_for_a_running_launcher(env: Env) -> None:
    ns = await new_job(env)
    start_launcher(env, ns, "pi-launcher")
    await env.settled()
    before = uid(env, JOBS, ns, "pi-launcher")

    edit_template(env, ns, "Launcher", "2")
    warning = await env.eventually(lambda: events(env, ns, "LauncherTemplateChangeDeferred"),
                                   what="deferred warning")
    assert warning[0]["type"] == "Warning"
    await env.settled()
    deferred = condition(mpijob(env, ns, "pi"), "LauncherTemplateChangeDeferred")
    assert deferred is not None and (deferred["status"], deferred["reason"]) == (
        "True", "LauncherTemplateChangeDeferred")
    assert uid(env, JOBS, ns, "pi-launcher") == before
    launcher = env.get(JOBS, ns, "pi-launcher")
    assert launcher is not None
    assert "example.com/revision" not in (launcher["spec"]["template"]["metadata"].get("annotations") or {})

    # The deferral is said once, not on every later sync (a steady state makes no writes).
    env.requests.reset()
    env.patch(MPIJOBS, ns, "pi", "merge", {"metadata": {"labels": {"touched": "yes"}}})
    await env.settled()
    writes = {verb: n for verb, n in env.requests.by_verb().items()
              if verb in ("create", "update", "patch", "delete")}
    assert writes == {}
    assert len(events(env, ns, "LauncherTemplateChangeDeferred")) == 1

    # Reverting the edit clears the condition.
    env.patch(MPIJOBS, ns, "pi", "json", [
        {"op": "remove", "path": "/spec/mpiReplicaSpecs/Launcher/template/metadata/annotations"}])
    await env.eventually(lambda: condition(mpijob(env, ns, "pi"), "LauncherTemplateChangeDeferred") is None,
                         what="condition cleared")


async def test_launcher_template_restart_policy_is_overridden_with_one_warning(env: Env) -> None:
    ns = env.namespace()
    job = example("pi.yaml")
    job["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["restartPolicy"] = "Never"
    env.create(MPIJOBS, ns, job)
    launcher = await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    assert launcher["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"  # the replica spec's default
    warning = await env.eventually(lambda: events(env, ns, "SetPodTemplateRestartPolicy"), what="warning")
    assert warning[0]["type"] == "Warning"
    assert warning[0]["message"] == ("Restart policy in pod template overridden by restart policy in replica spec")
    env.patch(MPIJOBS, ns, "pi", "merge", {"metadata": {"labels": {"touched": "yes"}}})
    await env.settled()
    assert [e.get("count", 1) for e in events(env, ns, "SetPodTemplateRestartPolicy")] == [1]  # docs/decisions.md Q41
