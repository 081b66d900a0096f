"""The operator through the faults of a real cluster: leader failover between two replicas, a restart of
kube-apiserver, and an etcd compaction that expires its watches (410, relist) — nothing lost, nothing
done twice.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Iterator

import pytest

from mpi_operator.kube.client import Client
from tests.real.ground import Ground, OperatorProcess
from tests.real.helpers import (
    create_mpijob,
    eventually,
    example,
    get,
    items,
    jobs_path,
    mpijob,
    wait_condition,
    with_annotations,
)

RUN = "sandbox.mpi-operator/run-seconds"
FAST_ELECTION = ("--leader-elect-lease-duration", "3", "--leader-elect-renew-deadline", "2",
                 "--leader-elect-retry-period", "0.5")


def leader_identity(op: OperatorProcess) -> str | None:
    found = re.findall(r"became leader identity=(\S+)", op.log.read_text(errors="replace")) if op.log.exists() \
        else []
    return found[-1] if found else None


async def lease_holder(api: Client) -> str | None:
    lease = await get(api, "/apis/coordination.k8s.io/v1/namespaces/mpi-operator/leases/mpi-operator")
    return ((lease or {}).get("spec") or {}).get("holderIdentity")


@pytest.fixture
def single(ground: Ground) -> Iterator[OperatorProcess]:
    # A lease that outlives an API server restart on a loaded machine: the operator keeps leading, so its
    # informers (not a new leadership term's) must reconnect, and meet the 410.
    op = ground.operator("--leader-elect-lease-duration", "60", "--leader-elect-renew-deadline", "45",
                         name="survivor").wait_ready()
    yield op
    op.stop()


@pytest.fixture
def pair(ground: Ground) -> Iterator[tuple[OperatorProcess, OperatorProcess]]:
    first = ground.operator(*FAST_ELECTION, name="replica-a").wait_ready()
    second = ground.operator(*FAST_ELECTION, name="replica-b").wait_ready()
    yield first, second
    first.kill()
    second.stop()


async def test_leader_failover_keeps_jobs_running(pair: tuple[OperatorProcess, OperatorProcess], api: Client,
                                                  namespace: str) -> None:
    first, second = pair

    async def one_leader() -> OperatorProcess | None:
        holder = await lease_holder(api)
        for op in pair:
            if holder is not None and leader_identity(op) == holder:
                return op
        return None
    leader = await eventually(one_leader, 30, "one replica leading")
    follower = second if leader is first else first
    assert leader_identity(follower) is None
    await create_mpijob(api, namespace, with_annotations(example("pi.yaml"), "Launcher", {RUN: "3"}))
    await wait_condition(api, namespace, "pi", "Running", within=60)
    leader.kill()

    async def follower_leads() -> bool:
        return leader_identity(follower) is not None and await lease_holder(api) == leader_identity(follower)
    await eventually(follower_leads, 30, "the follower taking over the lease")
    await wait_condition(api, namespace, "pi", "Succeeded", within=90)
    assert [j["metadata"]["name"] for j in await items(api, jobs_path(namespace))] == ["pi-launcher"]
    events = await items(api, f"/api/v1/namespaces/{namespace}/events")
    created = [e for e in events if e.get("reason") == "MPIJobCreated"]
    assert sum(int(e.get("count") or 1) for e in created) == 1


async def test_apiserver_restart(ground: Ground, single: OperatorProcess, api: Client, namespace: str) -> None:
    if not ground.real:
        pytest.skip("restarting the API server is a real-control-plane fault")
    first = copy.deepcopy(example("pi.yaml"))
    first["metadata"]["name"] = "before"
    await create_mpijob(api, namespace, with_annotations(first, "Launcher", {RUN: "2"}))
    await wait_condition(api, namespace, "before", "Running", within=60)
    await asyncio.to_thread(ground.restart_apiserver)
    second = copy.deepcopy(example("pi.yaml"))
    second["metadata"]["name"] = "after"
    await create_mpijob(api, namespace, second)
    await wait_condition(api, namespace, "before", "Succeeded", within=90)
    await wait_condition(api, namespace, "after", "Succeeded", within=90)
    assert single.proc.poll() is None
    names = sorted(j["metadata"]["name"] for j in await items(api, jobs_path(namespace)))
    assert names == ["after-launcher", "before-launcher"]
    await eventually(lambda: asyncio.to_thread(single.ready), 30, "the operator ready again")


async def test_etcd_compaction_expires_watches_and_the_relist_misses_nothing(
        ground: Ground, single: OperatorProcess, api: Client, namespace: str) -> None:
    if not ground.real:
        pytest.skip("etcd compaction is a real-control-plane fault")
    doomed = copy.deepcopy(example("pi.yaml"))
    doomed["metadata"]["name"] = "doomed"
    doomed["spec"]["runPolicy"]["suspend"] = True
    await create_mpijob(api, namespace, doomed)
    await wait_condition(api, namespace, "doomed", "Suspended", within=60)
    # Move etcd's revision far past what the operator's watches last saw, compact it, and cut every watch:
    # on reconnect their resourceVersions are gone (410) and the informers must relist.
    for i in range(30):
        await api.request("POST", f"/api/v1/namespaces/{namespace}/configmaps",
                          body={"metadata": {"name": f"filler-{i}"}, "data": {"i": str(i)}})
    await asyncio.to_thread(ground.compact)
    await asyncio.to_thread(ground.restart_apiserver)
    # Changes made while the operator reconnects: one job deleted, one created.
    await api.request("DELETE", f"/apis/kubeflow.org/v2beta1/namespaces/{namespace}/mpijobs/doomed")
    fresh = copy.deepcopy(example("pi.yaml"))
    fresh["metadata"]["name"] = "fresh"
    await create_mpijob(api, namespace, fresh)
    await wait_condition(api, namespace, "fresh", "Succeeded", within=90)
    assert await mpijob(api, namespace, "doomed") is None

    async def only_fresh() -> bool:
        return [j["metadata"]["name"] for j in await items(api, jobs_path(namespace))] == ["fresh-launcher"]
    await eventually(only_fresh, 60, "doomed's launcher Job collected, only fresh's left")
    assert "relisting" in single.log.read_text(errors="replace")
