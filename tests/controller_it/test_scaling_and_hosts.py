"""Worker replicas follow the spec (scale-down deletes the highest indices, scale-up adds the missing ones), and
the ConfigMap follows: hostfile lists every index, discover_hosts.sh the Running workers sorted by name."""

from __future__ import annotations

import copy

import pytest

from tests.controller_it.cluster import JOBS, events, gone_or_terminating, live, set_pod_phase, set_pod_running
from tests.controller_it.conftest import MPIJOBS, Env, example

pytestmark = pytest.mark.asyncio(loop_scope="module")


def workers_job(replicas: int) -> dict[str, object]:
    job = copy.deepcopy(example("pi.yaml"))
    job["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] = replicas
    return job


def scale(env: Env, ns: str, replicas: int) -> None:
    env.patch(MPIJOBS, ns, "pi", "merge", {"spec": {"mpiReplicaSpecs": {"Worker": {"replicas": replicas}}}})


def hostfile(ns: str, count: int) -> str:
    return "".join(f"pi-worker-{i}.pi.{ns}.svc slots=1\n" for i in range(count))


def config(env: Env, ns: str, key: str) -> str | None:
    cm = env.get("configmaps", ns, "pi-config")
    return None if cm is None else str(cm["data"][key])


async def test_scale_down_deletes_the_highest_workers_and_scale_up_adds_them_back(env: Env) -> None:
    ns = env.namespace()
    env.create(MPIJOBS, ns, workers_job(3))
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
    env.create(MPIJOBS, ns, workers_job(3))
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


async def test_run_launcher_as_worker_scales_by_worker_index_and_lists_the_launcher_first(env: Env) -> None:
    ns = env.namespace()
    job = workers_job(3)
    job["spec"]["runLauncherAsWorker"] = True  # type: ignore[index]
    env.create(MPIJOBS, ns, job)
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    labels = [(env.get("pods", ns, f"pi-worker-{i}") or {})["metadata"]["labels"][
        "training.kubeflow.org/replica-index"] for i in range(3)]
    assert labels == ["1", "2", "3"]
    assert config(env, ns, "hostfile") == f"pi-launcher.pi.{ns}.svc slots=1\n" + hostfile(ns, 3)

    scale(env, ns, 2)  # docs/decisions.md Q9: worker index 2 goes (label 3), worker index 1 (label 2) stays
    await env.eventually(lambda: gone_or_terminating(env, ns, "pi-worker-2"), what="worker-2 deleted")
    await env.settled()
    assert live(env, ns, "pi-worker-0") and live(env, ns, "pi-worker-1")


async def test_worker_without_index_label_is_left_alone_with_a_warning(env: Env) -> None:
    ns = env.namespace()
    env.create(MPIJOBS, ns, workers_job(3))
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    await env.settled()
    env.patch("pods", ns, "pi-worker-2", "json", [
        {"op": "remove", "path": "/metadata/labels/training.kubeflow.org~1replica-index"}])
    scale(env, ns, 1)
    await env.eventually(lambda: gone_or_terminating(env, ns, "pi-worker-1"), what="worker-1 deleted")
    warning = await env.eventually(lambda: events(env, ns, "WorkerWithoutIndex"), what="WorkerWithoutIndex")
    assert warning[0]["type"] == "Warning"
    assert live(env, ns, "pi-worker-2")  # docs/decisions.md Q10: kept, and the step did not abort

    # Said once: later syncs write nothing (no Event count bumps either).
    await env.settled()
    env.requests.reset()
    env.patch(MPIJOBS, ns, "pi", "merge", {"metadata": {"labels": {"touched": "yes"}}})
    await env.settled()
    assert env.requests.count(verb="patch") + env.requests.count(verb="create") == 0
    assert len(events(env, ns, "WorkerWithoutIndex")) == 1
