"""Worker replicas follow the spec (scale-down deletes the highest indices, scale-up adds the missing ones), and
the ConfigMap follows: hostfile lists every index, discover_hosts.sh the Running workers sorted by name."""

from __future__ import annotations

import copy

import pytest

from tests.controller_it.cluster_stand_in import JOBS, gone_or_terminating, live, set_pod_phase, set_pod_running
from tests.controller_it.conftest import MPIJOBS, Env, example

pytestmark = pytest.mark.asyncio(loop_scope="module")


def workers_job(replicas: int) -> dict[str, object]:
    job = copy.deepcopy(example("pi.yaml"))
    job["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] = replicas
    return job


def scale(env: Env, ns: str, replicas: int) -> None:
    env.sb.store.patch(MPIJOBS, ns, "pi", "merge", {"spec": {"mpiReplicaSpecs": {"Worker": {"replicas": replicas}}}})


def hostfile(ns: str, count: int) -> str:
    return "".join(f"pi-worker-{i}.pi.{ns}.svc slots=1\n" for i in range(count))


def config(env: Env, ns: str, key: str) -> str | None:
    cm = env.get("configmaps", ns, "pi-config")
    return None if cm is None else str(cm["data"][key])


async def test_scale_down_deletes_the_highest_workers_and_scale_up_adds_them_back(env: Env) -> None:
    ns = env.namespace()
    env.sb.store.create(MPIJOBS, ns, workers_job(3))
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    set_pod_running(env, ns, "pi-worker-0")
    assert config(env, ns, "hostfile") == hostfile(ns, 3)

    scale(env, ns, 1)
    await env.eventually(lambda: gone_or_terminating(env, ns, "pi-worker-1") and
                         gone_or_terminating(env, ns, "pi-worker-2"), what="workers 1 and 2 deleted")
    await env.eventually(lambda: config(env, ns, "hostfile") == hostfile(ns, 1), what="hostfile of one")
    await env.settled()
    assert live(env, ns, "pi-worker-0")

    scale(env, ns, 3)
    await env.eventually(lambda: live(env, ns, "pi-worker-1") and live(env, ns, "pi-worker-2"), what="scale up")
    await env.eventually(lambda: config(env, ns, "hostfile") == hostfile(ns, 3), what="hostfile of three")


async def test_discover_hosts_lists_running_workers_sorted_by_name(env: Env) -> None:
    ns = env.namespace()
    env.sb.store.create(MPIJOBS, ns, workers_job(3))
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    assert config(env, ns, "discover_hosts.sh") == "#!/bin/sh\n"

    set_pod_running(env, ns, "pi-worker-2")
    await env.eventually(lambda: config(env, ns, "discover_hosts.sh") == f"#!/bin/sh\necho pi-worker-2.pi.{ns}.svc\n",
                         what="one running worker")
    set_pod_running(env, ns, "pi-worker-0")
    both = f"#!/bin/sh\necho pi-worker-0.pi.{ns}.svc\necho pi-worker-2.pi.{ns}.svc\n"
    await env.eventually(lambda: config(env, ns, "discover_hosts.sh") == both, what="two running workers, sorted")
    set_pod_phase(env, ns, "pi-worker-2", "Failed")
    await env.eventually(lambda: config(env, ns, "discover_hosts.sh") == f"#!/bin/sh\necho pi-worker-0.pi.{ns}.svc\n",
                         what="failed worker dropped")
