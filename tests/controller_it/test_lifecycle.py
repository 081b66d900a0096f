"""An MPIJob's children and status, end to end: the controller as a task, the sandbox over HTTP."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.controller_it.conftest import MPIJOBS, Env, example

pytestmark = pytest.mark.asyncio(loop_scope="module")


def condition(job: dict[str, Any] | None, ctype: str) -> dict[str, Any] | None:
    for c in ((job or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == ctype:
            return c  # type: ignore[no-any-return]
    return None


async def test_new_job_gets_every_child_and_created_status(env: Env) -> None:
    ns = env.namespace()
    job = env.create(MPIJOBS, ns, example("pi.yaml"))
    uid = job["metadata"]["uid"]

    await env.eventually(lambda: env.get("jobs.batch", ns, "pi-launcher"), what="launcher Job")
    for resource, name in [("services", "pi"), ("configmaps", "pi-config"), ("secrets", "pi-ssh"),
                           ("pods", "pi-worker-0"), ("pods", "pi-worker-1"), ("jobs.batch", "pi-launcher")]:
        obj = env.get(resource, ns, name)
        assert obj is not None, f"{resource}/{name} missing"
        refs = obj["metadata"]["ownerReferences"]
        assert [(r["kind"], r["uid"], r["controller"]) for r in refs] == [("MPIJob", uid, True)]
    cm = env.get("configmaps", ns, "pi-config")
    assert cm is not None
    assert cm["data"]["hostfile"] == f"pi-worker-0.pi.{ns}.svc slots=1\npi-worker-1.pi.{ns}.svc slots=1\n"
    secret = env.get("secrets", ns, "pi-ssh")
    assert secret is not None and secret["type"] == "kubernetes.io/ssh-auth"

    current = await env.eventually(lambda: condition(env.get(MPIJOBS, ns, "pi"), "Created") and
                                   env.get(MPIJOBS, ns, "pi"), what="Created condition")
    created = condition(current, "Created")
    assert created is not None and created["reason"] == "MPIJobCreated"
    assert created["message"] == f"MPIJob {ns}/pi is created."
    assert current["status"]["replicaStatuses"] == {"Launcher": {}, "Worker": {}}
    assert current["status"]["startTime"]


async def test_steady_state_makes_no_writes(env: Env) -> None:
    ns = env.namespace()
    env.create(MPIJOBS, ns, example("pi.yaml"))
    await env.eventually(lambda: env.get("jobs.batch", ns, "pi-launcher"), what="launcher Job")
    await env.settled()
    env.requests.reset()
    # Touch the MPIJob's labels: a real event, a full sync, and nothing to write.
    env.patch(MPIJOBS, ns, "pi", "merge", {"metadata": {"labels": {"touched": "yes"}}})
    await env.settled()
    writes = {verb: n for verb, n in env.requests.by_verb().items()
              if verb in ("create", "update", "patch", "delete")}
    assert writes == {}


async def test_invalid_job_gets_condition_and_fixing_it_proceeds(env: Env) -> None:
    ns = env.namespace()
    bad = copy.deepcopy(example("pi.yaml"))
    bad["metadata"]["name"] = "broken"
    bad["spec"]["mpiReplicaSpecs"]["Worker"]["restartPolicy"] = "Always"
    env.create(MPIJOBS, ns, bad)
    invalid = await env.eventually(lambda: condition(env.get(MPIJOBS, ns, "broken"), "ValidationFailed"),
                                   what="ValidationFailed condition")
    assert invalid["status"] == "True" and invalid["reason"] == "ValidationError"
    assert 'spec.mpiReplicaSpecs[Worker].restartPolicy: Unsupported value: "Always"' in invalid["message"]
    assert env.get("services", ns, "broken") is None
    events = await env.eventually(lambda: [e for e in env.list("events", ns) if e["reason"] == "ValidationError"],
                                  what="ValidationError event")
    assert len(events) == 1 and events[0]["type"] == "Warning"
    assert events[0]["message"].startswith("Found validation errors: ")

    env.patch(MPIJOBS, ns, "broken", "merge",
                       {"spec": {"mpiReplicaSpecs": {"Worker": {"restartPolicy": "Never"}}}})
    await env.eventually(lambda: env.get("jobs.batch", ns, "broken-launcher"), what="launcher after the fix")
    fixed = await env.eventually(lambda: (j := env.get(MPIJOBS, ns, "broken")) and
                                 condition(j, "ValidationFailed") is None and condition(j, "Created") and j,
                                 what="condition cleared")
    assert condition(fixed, "Created") is not None


async def test_objects_not_controlled_by_the_job_are_left_alone(env: Env) -> None:
    ns = env.namespace()
    env.create("services", ns, {"metadata": {"name": "pi"}, "spec": {"clusterIP": "None"}})
    env.create(MPIJOBS, ns, example("pi.yaml"))
    await env.eventually(lambda: [e for e in env.list("events", ns) if e["reason"] == "ErrResourceExists"],
                         what="ErrResourceExists event")
    event = next(e for e in env.list("events", ns) if e["reason"] == "ErrResourceExists")
    assert event["message"] == 'Resource "pi" of Kind "Service" already exists and is not managed by MPIJob'
    service = env.get("services", ns, "pi")
    assert service is not None and not service["metadata"].get("ownerReferences")
    assert env.get("pods", ns, "pi-worker-0") is None


async def test_managed_by_multikueue_is_skipped(env: Env) -> None:
    ns = env.namespace()
    job = copy.deepcopy(example("pi.yaml"))
    job["spec"]["runPolicy"]["managedBy"] = "kueue.x-k8s.io/multikueue"
    env.create(MPIJOBS, ns, job)
    await env.settled()
    assert env.get("services", ns, "pi") is None
    current = env.get(MPIJOBS, ns, "pi")
    assert current is not None and not current.get("status")
