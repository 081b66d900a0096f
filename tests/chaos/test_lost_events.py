"""Watch events can be lost for good (a watch cut, then a relist that finds the cache already holding the version
the controller wrote): nothing the controller must still do may wait for the event of its own write.

Found by the long chaos run: launcher finalizers kept and workers left running behind finished jobs.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from mpi_operator.controller.finalizer import LAUNCHER_FINALIZER
from tests.controller_it.cluster import (
    JOBS,
    complete_launcher,
    condition,
    counter,
    set_pod_running,
    start_launcher,
)
from tests.controller_it.conftest import MPIJOBS, Env, example, running_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def env(tmp_path_factory: Any) -> AsyncIterator[Env]:
    async with running_env(tmp_path_factory.mktemp("api")) as started:
        yield started


async def test_the_sync_that_records_the_result_also_cleans_up_without_another_mpijob_event(env: Env) -> None:
    ns = env.namespace()
    job = copy.deepcopy(example("pi.yaml"))
    job["spec"]["runPolicy"]["cleanPodPolicy"] = "All"
    env.create(MPIJOBS, ns, job)
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    for worker in ("pi-worker-0", "pi-worker-1"):
        set_pod_running(env, ns, worker)
    start_launcher(env, ns, "pi-launcher")
    await env.settled()

    mpijobs = env.controller.caches.mpijobs
    await mpijobs.stop()  # from here on the controller hears nothing about MPIJobs, its own writes included
    try:
        complete_launcher(env, ns, "pi-launcher")  # the Job informer still reports this: one sync follows
        await env.eventually(lambda: condition(env.get(MPIJOBS, ns, "pi"), "Succeeded"), what="Succeeded")
        await env.eventually(lambda: LAUNCHER_FINALIZER not in (
            (env.get(JOBS, ns, "pi-launcher") or {}).get("metadata", {}).get("finalizers") or []),
            what="launcher finalizer released")
        await env.eventually(lambda: not [p for p in env.list("pods", ns) if "-worker-" in p["metadata"]["name"]],
                             what="workers cleaned up")
    finally:
        mpijobs.start()


async def started_pi(env: Env) -> str:
    ns = env.namespace()
    env.create(MPIJOBS, ns, copy.deepcopy(example("pi.yaml")))
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    for worker in ("pi-worker-0", "pi-worker-1"):
        set_pod_running(env, ns, worker)
    start_launcher(env, ns, "pi-launcher")
    await env.settled()
    return ns


async def test_a_list_taken_before_our_status_write_does_not_roll_the_cache_back(env: Env) -> None:
    ns = await started_pi(env)
    mpijobs = env.controller.caches.mpijobs
    in_flight = copy.deepcopy(mpijobs.store.get(f"{ns}/pi"))  # what a list answered just before the result
    assert in_flight is not None
    complete_launcher(env, ns, "pi-launcher")
    await env.eventually(lambda: condition(env.get(MPIJOBS, ns, "pi"), "Succeeded"), what="Succeeded")
    await env.settled()
    written = env.get(MPIJOBS, ns, "pi")
    assert written is not None
    successful = counter(env, "jobs_successful")

    # That list's answer is processed only now, after the controller wrote (and cached) the terminal status.
    listed = [in_flight if key == f"{ns}/pi" else obj for key, obj in mpijobs.store.snapshot().items()]
    mpijobs.replace(listed, in_flight["metadata"]["resourceVersion"])
    await env.settled()

    assert counter(env, "jobs_successful") == successful, "the result was counted twice"
    now = env.get(MPIJOBS, ns, "pi")
    assert now is not None and now["status"]["completionTime"] == written["status"]["completionTime"]
    assert [e.get("count", 1) for e in env.list("events", ns) if e["reason"] == "MPIJobSucceeded"] == [1]
