"""launcherCreationPolicy WaitForWorkersReady: no launcher Job until every worker pod is Ready, and
(docs/decisions.md Q8) no unsuspended launcher after a resume either until the workers are Ready again."""

from __future__ import annotations

import copy

import pytest

from tests.controller_it.cluster import JOBS, live, mpijob, set_pod_running
from tests.controller_it.conftest import MPIJOBS, Env, example

pytestmark = pytest.mark.asyncio(loop_scope="module")
WORKERS = ("pi-worker-0", "pi-worker-1")


def waiting_job(suspend: bool = False) -> dict[str, object]:
    job = copy.deepcopy(example("pi.yaml"))
    job["spec"]["launcherCreationPolicy"] = "WaitForWorkersReady"
    if suspend:
        job["spec"]["runPolicy"]["suspend"] = True
    return job


async def test_launcher_waits_until_every_worker_is_ready(env: Env) -> None:
    ns = env.namespace()
    env.create(MPIJOBS, ns, waiting_job())
    await env.eventually(lambda: all(live(env, ns, name) for name in WORKERS), what="workers")
    await env.settled()
    assert env.get(JOBS, ns, "pi-launcher") is None
    assert mpijob(env, ns, "pi")["status"]["replicaStatuses"] == {"Worker": {}}

    set_pod_running(env, ns, "pi-worker-0")
    set_pod_running(env, ns, "pi-worker-1", ready=False)  # Running is not enough: Ready is the gate
    await env.settled()
    assert env.get(JOBS, ns, "pi-launcher") is None
    assert mpijob(env, ns, "pi")["status"]["replicaStatuses"] == {"Worker": {"active": 2}}

    set_pod_running(env, ns, "pi-worker-1")
    launcher = await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    assert not launcher["spec"].get("suspend")


async def test_launcher_is_not_unsuspended_before_workers_are_ready_after_resume(env: Env) -> None:
    ns = env.namespace()
    env.create(MPIJOBS, ns, waiting_job(suspend=True))
    launcher = await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="suspended launcher Job")
    assert launcher["spec"]["suspend"] is True

    env.patch(MPIJOBS, ns, "pi", "merge", {"spec": {"runPolicy": {"suspend": False}}})
    await env.eventually(lambda: all(live(env, ns, name) for name in WORKERS), what="workers after resume")
    await env.settled()
    launcher = env.get(JOBS, ns, "pi-launcher")
    assert launcher is not None and launcher["spec"]["suspend"] is True  # docs/decisions.md Q8

    for name in WORKERS:
        set_pod_running(env, ns, name)
    await env.eventually(lambda: (env.get(JOBS, ns, "pi-launcher") or {}).get("spec", {}).get("suspend") is False,
                         what="launcher unsuspended")


async def test_launcher_without_worker_spec_is_created_at_once(env: Env) -> None:
    ns = env.namespace()
    job = waiting_job()
    del job["spec"]["mpiReplicaSpecs"]["Worker"]  # type: ignore[index]
    env.create(MPIJOBS, ns, job)
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    assert env.list("pods", ns) == []
