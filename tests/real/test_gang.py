"""Gang scheduling on both grounds, with the Volcano and scheduler-plugins PodGroup CRDs installed.

The operator (`--gang-scheduling`) creates the PodGroup and marks every pod for the gang scheduler; the
node agent stands in for that scheduler and binds them, so the job runs to Succeeded and the PodGroup goes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mpi_operator.kube.client import Client
from tests.real.ground import Ground, OperatorProcess
from tests.real.helpers import create_mpijob, eventually, example, get, pods_path, wait_condition


@dataclass(frozen=True)
class Gang:
    flag: str
    api: str            # group/version
    scheduler: str

    def podgroup_path(self, ns: str, name: str) -> str:
        return f"/apis/{self.api}/namespaces/{ns}/podgroups/{name}"


VOLCANO = Gang("volcano", "scheduling.volcano.sh/v1beta1", "volcano")
PLUGINS = Gang("scheduler-plugins-scheduler", "scheduling.x-k8s.io/v1alpha1", "scheduler-plugins-scheduler")


@pytest.fixture(params=[VOLCANO, PLUGINS], ids=["volcano", "scheduler-plugins"])
def gang(request: pytest.FixtureRequest) -> Gang:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def gang_operator(ground: Ground, gang: Gang) -> Iterator[OperatorProcess]:
    op = ground.operator("--gang-scheduling", gang.flag).wait_ready()
    yield op
    op.stop()


async def test_gang_scheduled_job_runs_and_its_podgroup_goes(gang_operator: OperatorProcess, gang: Gang,
                                                             api: Client, namespace: str) -> None:
    await create_mpijob(api, namespace, example("pi.yaml"))
    podgroup = await eventually(lambda: get(api, gang.podgroup_path(namespace, "pi")), 30, "the PodGroup")
    min_member = podgroup["spec"].get("minMember")
    assert min_member == 3, podgroup
    worker = await eventually(lambda: get(api, f"{pods_path(namespace)}/pi-worker-0"), 30, "worker 0")
    assert worker["spec"]["schedulerName"] == gang.scheduler
    await wait_condition(api, namespace, "pi", "Succeeded", within=90)

    async def podgroup_gone() -> bool:
        return await get(api, gang.podgroup_path(namespace, "pi")) is None
    await eventually(podgroup_gone, 30, "the PodGroup deleted after the job finished")
