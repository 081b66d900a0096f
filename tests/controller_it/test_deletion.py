"""Deleting an MPIJob: garbage collection removes its children, and the controller releases its finalizer on
the launcher Job (docs/decisions.md Q31) so that the Job goes too."""

from __future__ import annotations

import pytest

from tests.controller_it.cluster import JOBS, job_info, set_pod_running, start_launcher
from tests.controller_it.conftest import MPIJOBS, Env, example

pytestmark = pytest.mark.asyncio(loop_scope="module")
CHILDREN = [("services", "pi"), ("configmaps", "pi-config"), ("secrets", "pi-ssh"), ("pods", "pi-worker-0"),
            ("pods", "pi-worker-1"), (JOBS, "pi-launcher")]


def gone(env: Env, ns: str, resource: str, name: str) -> bool:
    obj = env.get(resource, ns, name)
    # Pods bound to a node wait for their kubelet; being deleted is what the controller can be asked for.
    return obj is None or (resource == "pods" and bool(obj["metadata"].get("deletionTimestamp")))


@pytest.mark.parametrize("propagation", ["Background", "Foreground"])
async def test_deleting_the_mpijob_removes_every_child_and_the_launcher_finalizer(env: Env,
                                                                                 propagation: str) -> None:
    ns = env.namespace()
    env.create(MPIJOBS, ns, example("pi.yaml"))
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    set_pod_running(env, ns, "pi-worker-0")
    start_launcher(env, ns, "pi-launcher")
    await env.settled()
    assert job_info(env, ns, "pi-launcher") == 1

    env.delete(MPIJOBS, ns, "pi", {"propagationPolicy": propagation})
    await env.eventually(lambda: all(gone(env, ns, resource, name) for resource, name in CHILDREN),
                         within=15, what="children gone")
    await env.eventually(lambda: env.get(MPIJOBS, ns, "pi") is None, what="MPIJob gone")
    await env.eventually(lambda: job_info(env, ns, "pi-launcher") is None, what="job_info series removed")


async def test_a_recreated_mpijob_of_the_same_name_gets_its_own_launcher(env: Env) -> None:
    ns = env.namespace()
    env.create(MPIJOBS, ns, example("pi.yaml"))
    old = await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    start_launcher(env, ns, "pi-launcher")
    await env.settled()

    env.delete(MPIJOBS, ns, "pi", {"propagationPolicy": "Background"})
    new = env.create(MPIJOBS, ns, example("pi.yaml"))
    launcher = await env.eventually(
        lambda: (j := env.get(JOBS, ns, "pi-launcher")) and j["metadata"]["uid"] != old["metadata"]["uid"] and j,
        within=15, what="launcher Job of the new MPIJob")
    assert launcher["metadata"]["ownerReferences"][0]["uid"] == new["metadata"]["uid"]


async def test_a_launcher_deleted_by_hand_before_its_result_is_replaced(env: Env) -> None:
    """Upstream's documented way to apply a launcher change is deleting the launcher Job: our finalizer
    (which protects a recorded result) must not hold a Job that has no result yet."""
    ns = env.namespace()
    env.create(MPIJOBS, ns, example("pi.yaml"))
    old = await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    start_launcher(env, ns, "pi-launcher")
    await env.settled()

    env.delete(JOBS, ns, "pi-launcher", {"propagationPolicy": "Background"})
    new = await env.eventually(
        lambda: (j := env.get(JOBS, ns, "pi-launcher")) and j["metadata"]["uid"] != old["metadata"]["uid"] and j,
        what="a new launcher Job")
    assert not new["metadata"].get("deletionTimestamp")
