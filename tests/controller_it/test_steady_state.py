"""A converged MPIJob costs no API writes: a burst of no-op updates to it (label touches, each a full sync)
writes nothing, whether the job is running, suspended, finished or managed by another controller."""

from __future__ import annotations

import asyncio
import contextlib
import copy

import pytest
from prometheus_client import CollectorRegistry

from mpi_operator.controller.controller import MPIJobController
from mpi_operator.controller.metrics import ControllerMetrics
from mpi_operator.controller.options import ControllerOptions
from tests.controller_it.cluster import (
    JOBS,
    complete_launcher,
    condition,
    mpijob,
    running_pi,
)
from tests.controller_it.conftest import MPIJOBS, Env, example

pytestmark = pytest.mark.asyncio(loop_scope="module")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


async def burst_writes(env: Env, ns: str, touches: int = 20) -> dict[str, int]:
    """Touch the MPIJob `touches` times once the controller is idle; the API writes the controller made."""
    await env.settled()
    env.requests.reset()
    for i in range(touches):
        env.patch(MPIJOBS, ns, "pi", "merge", {"metadata": {"labels": {"touched": str(i)}}})
    await env.settled()
    return {verb: n for verb, n in env.requests.by_verb().items() if verb in WRITE_VERBS}


async def test_running_job_makes_no_writes(env: Env) -> None:
    ns = await running_pi(env)
    assert await burst_writes(env, ns) == {}


async def test_finished_job_makes_no_writes(env: Env) -> None:
    ns = await running_pi(env)
    complete_launcher(env, ns, "pi-launcher")
    await env.eventually(lambda: condition(mpijob(env, ns, "pi"), "Succeeded"), what="Succeeded")
    assert await burst_writes(env, ns) == {}


async def test_suspended_job_makes_no_writes(env: Env) -> None:
    ns = await running_pi(env)
    env.patch(MPIJOBS, ns, "pi", "merge", {"spec": {"runPolicy": {"suspend": True}}})
    await env.eventually(lambda: condition(mpijob(env, ns, "pi"), "Suspended"), what="Suspended")
    assert await burst_writes(env, ns) == {}


async def test_job_managed_by_multikueue_makes_no_requests_at_all(env: Env) -> None:
    ns = env.namespace()
    job = copy.deepcopy(example("pi.yaml"))
    job["spec"]["runPolicy"]["managedBy"] = "kueue.x-k8s.io/multikueue"
    env.create(MPIJOBS, ns, job)
    assert await burst_writes(env, ns) == {}
    assert env.requests.count(namespace=ns) == 0
    assert env.list("events", ns) == [] and env.list("pods", ns) == []


async def test_job_managed_by_this_operator_explicitly_is_reconciled(env: Env) -> None:
    ns = env.namespace()
    job = copy.deepcopy(example("pi.yaml"))
    job["spec"]["runPolicy"]["managedBy"] = "kubeflow.org/mpi-operator"
    env.create(MPIJOBS, ns, job)
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    await env.eventually(lambda: condition(mpijob(env, ns, "pi"), "Created"), what="Created")


async def test_a_restarted_controller_makes_no_writes_for_converged_jobs(env: Env) -> None:
    """A second controller with fresh caches (an operator restart or a new leader) lists every converged job
    and syncs it: no Secret regenerated, no status rewritten, nothing."""
    ns = await running_pi(env)
    await env.settled()
    env.requests.reset()
    second = MPIJobController(env.client, ControllerOptions(), ControllerMetrics(CollectorRegistry()),
                              queue_rate=1000, queue_burst=1000, threadiness=4)
    ready = asyncio.Event()
    task = asyncio.create_task(second.run(ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        assert await second.queue.wait_idle(10)
        await env.settled()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    writes = {verb: n for verb, n in env.requests.by_verb().items() if verb in WRITE_VERBS}
    assert writes == {}
    assert condition(mpijob(env, ns, "pi"), "Running") is not None
