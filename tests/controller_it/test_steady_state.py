"""A converged MPIJob costs no API writes: a burst of no-op updates to it (label touches, each a full sync)
writes nothing, whether the job is running, suspended, finished or managed by another controller."""

from __future__ import annotations

import copy

import pytest

from tests.controller_it.cluster_stand_in import (
    JOBS,
    complete_launcher,
    condition,
    mpijob,
    set_pod_running,
    start_launcher,
)
from tests.controller_it.conftest import MPIJOBS, Env, example

pytestmark = pytest.mark.asyncio(loop_scope="module")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


async def burst_writes(env: Env, ns: str, touches: int = 20) -> dict[str, int]:
    """Touch the MPIJob `touches` times once the controller is idle; the API writes the controller made."""
    await env.settled()
    env.sb.requests.reset()
    for i in range(touches):
        env.sb.store.patch(MPIJOBS, ns, "pi", "merge", {"metadata": {"labels": {"touched": str(i)}}})
    await env.settled()
    return {verb: n for verb, n in env.sb.requests.by_verb().items() if verb in WRITE_VERBS}


async def running(env: Env) -> str:
    ns = env.namespace()
    env.sb.store.create(MPIJOBS, ns, example("pi.yaml"))
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    set_pod_running(env, ns, "pi-worker-0")
    set_pod_running(env, ns, "pi-worker-1")
    start_launcher(env, ns, "pi-launcher")
    await env.eventually(lambda: condition(mpijob(env, ns, "pi"), "Running"), what="Running")
    return ns


async def test_running_job_makes_no_writes(env: Env) -> None:
    ns = await running(env)
    assert await burst_writes(env, ns) == {}


async def test_finished_job_makes_no_writes(env: Env) -> None:
    ns = await running(env)
    complete_launcher(env, ns, "pi-launcher")
    await env.eventually(lambda: condition(mpijob(env, ns, "pi"), "Succeeded"), what="Succeeded")
    assert await burst_writes(env, ns) == {}


async def test_suspended_job_makes_no_writes(env: Env) -> None:
    ns = await running(env)
    env.sb.store.patch(MPIJOBS, ns, "pi", "merge", {"spec": {"runPolicy": {"suspend": True}}})
    await env.eventually(lambda: condition(mpijob(env, ns, "pi"), "Suspended"), what="Suspended")
    assert await burst_writes(env, ns) == {}


async def test_job_managed_by_multikueue_makes_no_requests_at_all(env: Env) -> None:
    ns = env.namespace()
    job = copy.deepcopy(example("pi.yaml"))
    job["spec"]["runPolicy"]["managedBy"] = "kueue.x-k8s.io/multikueue"
    env.sb.store.create(MPIJOBS, ns, job)
    assert await burst_writes(env, ns) == {}
    assert env.sb.requests.count(namespace=ns) == 0
    assert env.list("events", ns) == [] and env.list("pods", ns) == []


async def test_job_managed_by_this_operator_explicitly_is_reconciled(env: Env) -> None:
    ns = env.namespace()
    job = copy.deepcopy(example("pi.yaml"))
    job["spec"]["runPolicy"]["managedBy"] = "kubeflow.org/mpi-operator"
    env.sb.store.create(MPIJOBS, ns, job)
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    await env.eventually(lambda: condition(mpijob(env, ns, "pi"), "Created"), what="Created")
