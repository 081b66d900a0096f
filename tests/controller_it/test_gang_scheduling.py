"""Gang scheduling with Volcano and with scheduler-plugins: the PodGroup `<name>` (minMember, queue, priority
class, timeout, minResources), the scheduler decoration of every pod, spec changes followed, the PodGroup
removed on suspend and on finish, and a PodGroup not controlled by the job left alone (ErrResourceExists)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from mpi_operator.controller.options import ControllerOptions
from tests.controller_it.cluster import (
    JOBS,
    complete_launcher,
    condition,
    events,
    live,
    mpijob,
    set_pod_running,
    start_launcher,
)
from tests.controller_it.conftest import MPIJOBS, Env, example, running_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass(frozen=True)
class Gang:
    flag: str  # --gang-scheduling
    crd: str  # the sandbox's gang CRD set
    podgroups: str  # store key of its PodGroups
    api_version: str
    scheduler_name: str

    def linked(self, meta: dict[str, Any]) -> bool:
        """Whether pod (template) metadata links it to the PodGroup `pi`."""
        if self.crd == "volcano":
            return (meta.get("annotations") or {}).get("scheduling.k8s.io/group-name") == "pi"
        return (meta.get("labels") or {}).get("scheduling.x-k8s.io/pod-group") == "pi"


VOLCANO = Gang("volcano", "volcano", "podgroups.scheduling.volcano.sh", "scheduling.volcano.sh/v1beta1", "volcano")
PLUGINS = Gang("scheduler-plugins-scheduler", "scheduler-plugins", "podgroups.scheduling.x-k8s.io",
               "scheduling.x-k8s.io/v1alpha1", "scheduler-plugins-scheduler")


@dataclass
class GangEnv:
    env: Env
    gang: Gang


@pytest_asyncio.fixture(loop_scope="module", scope="module", params=[VOLCANO, PLUGINS], ids=["volcano", "plugins"])
async def genv(request: Any, tmp_path_factory: Any) -> AsyncIterator[GangEnv]:
    gang: Gang = request.param
    async with running_env(tmp_path_factory.mktemp("api"), ControllerOptions(gang_scheduling=gang.flag),
                           gang=(gang.crd,)) as started:
        if started.get("priorityclasses.scheduling.k8s.io", "", "high") is None:
            started.create("priorityclasses.scheduling.k8s.io", None,
                                    {"metadata": {"name": "high"}, "value": 1000})
        yield GangEnv(started, gang)


def gang_job(**policy: Any) -> dict[str, Any]:
    job = copy.deepcopy(example("pi.yaml"))
    job["spec"]["runPolicy"]["schedulingPolicy"] = policy
    return job


def podgroup(genv: GangEnv, ns: str) -> dict[str, Any] | None:
    return genv.env.get(genv.gang.podgroups, ns, "pi")


async def test_podgroup_and_pods_carry_the_gang(genv: GangEnv) -> None:
    env, gang = genv.env, genv.gang
    ns = env.namespace()
    job = env.create(MPIJOBS, ns, gang_job(queue="research", priorityClass="high",
                                                       scheduleTimeoutSeconds=120))
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    pg = podgroup(genv, ns)
    assert pg is not None and pg["apiVersion"] == gang.api_version
    assert [(r["kind"], r["uid"], r["controller"]) for r in pg["metadata"]["ownerReferences"]] == [
        ("MPIJob", job["metadata"]["uid"], True)]
    assert pg["spec"]["minMember"] == 3
    assert pg["spec"]["minResources"] == {"cpu": "3", "memory": "3Gi"}
    if gang is VOLCANO:
        assert pg["spec"]["queue"] == "research" and pg["spec"]["priorityClassName"] == "high"
        assert "scheduleTimeoutSeconds" not in pg["spec"]
    else:
        assert pg["spec"]["scheduleTimeoutSeconds"] == 120
        assert "queue" not in pg["spec"] and "priorityClassName" not in pg["spec"]

    for name in ("pi-worker-0", "pi-worker-1"):
        pod = env.get("pods", ns, name)
        assert pod is not None and pod["spec"]["schedulerName"] == gang.scheduler_name and gang.linked(
            pod["metadata"])
    launcher = env.get(JOBS, ns, "pi-launcher")
    assert launcher is not None
    template = launcher["spec"]["template"]
    assert template["spec"]["schedulerName"] == gang.scheduler_name and gang.linked(template["metadata"])

    # A spec change reaches the PodGroup (minAvailable -> minMember).
    env.patch(MPIJOBS, ns, "pi", "merge", {"spec": {"runPolicy": {"schedulingPolicy": {"minAvailable": 2}}}})
    await env.eventually(lambda: (podgroup(genv, ns) or {}).get("spec", {}).get("minMember") == 2,
                         what="minMember updated")


async def test_podgroup_goes_on_suspend_returns_on_resume_and_goes_on_finish(genv: GangEnv) -> None:
    env = genv.env
    ns = env.namespace()
    env.create(MPIJOBS, ns, gang_job())
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    assert podgroup(genv, ns) is not None

    env.patch(MPIJOBS, ns, "pi", "merge", {"spec": {"runPolicy": {"suspend": True}}})
    await env.eventually(lambda: podgroup(genv, ns) is None, what="PodGroup deleted on suspend")
    await env.settled()
    assert podgroup(genv, ns) is None  # not recreated while suspended

    env.patch(MPIJOBS, ns, "pi", "merge", {"spec": {"runPolicy": {"suspend": False}}})
    await env.eventually(lambda: podgroup(genv, ns) is not None and live(env, ns, "pi-worker-1"),
                         what="PodGroup and workers back on resume")
    await env.eventually(lambda: not (env.get(JOBS, ns, "pi-launcher") or {}).get("spec", {}).get("suspend"),
                         what="launcher resumed")
    set_pod_running(env, ns, "pi-worker-0")
    set_pod_running(env, ns, "pi-worker-1")
    start_launcher(env, ns, "pi-launcher")
    complete_launcher(env, ns, "pi-launcher")
    await env.eventually(lambda: condition(mpijob(env, ns, "pi"), "Succeeded"), what="Succeeded")
    await env.eventually(lambda: podgroup(genv, ns) is None, what="PodGroup deleted on finish")


async def test_foreign_podgroup_gets_err_resource_exists(genv: GangEnv) -> None:
    env = genv.env
    ns = env.namespace()
    foreign = env.create(genv.gang.podgroups, ns, {
        "apiVersion": genv.gang.api_version, "kind": "PodGroup", "metadata": {"name": "pi"},
        "spec": {"minMember": 1}})
    env.create(MPIJOBS, ns, gang_job())
    warning = await env.eventually(lambda: events(env, ns, "ErrResourceExists"), what="ErrResourceExists event")
    assert warning[0]["message"] == 'Resource "pi" of Kind "PodGroup" already exists and is not managed by MPIJob'
    current = podgroup(genv, ns)
    assert current is not None and current["metadata"]["resourceVersion"] == foreign["metadata"]["resourceVersion"]


async def test_podgroup_fields_we_own_are_restored_and_others_left_alone(genv: GangEnv) -> None:
    """docs/decisions.md Q27: a scheduler's own fields cause no update fight; ours are put back."""
    env = genv.env
    ns = env.namespace()
    env.create(MPIJOBS, ns, gang_job())
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    await env.settled()
    env.requests.reset()
    env.patch(genv.gang.podgroups, ns, "pi", "merge", {"spec": {"minTaskMember": {"worker": 2}}})
    env.patch(genv.gang.podgroups, ns, "pi", "merge", {"status": {"phase": "Running"}},
                       subresource="status")
    await env.settled()
    assert env.requests.count(resource=genv.gang.podgroups, verb="patch") == 0
    assert env.requests.count(resource=genv.gang.podgroups, verb="update") == 0

    env.patch(genv.gang.podgroups, ns, "pi", "merge", {"spec": {"minMember": 1}})
    await env.eventually(lambda: (podgroup(genv, ns) or {}).get("spec", {}).get("minMember") == 3,
                         what="minMember restored")
    current = podgroup(genv, ns)
    assert current is not None and current["spec"]["minTaskMember"] == {"worker": 2}
