"""What the operator sends for one job's life, counted from its own /metrics: each worker pod is deleted
once, even when pods stay terminating for a while (as on a real API server) and syncs run meanwhile."""

from __future__ import annotations

import copy
import re
import urllib.request
from collections.abc import Iterator

import pytest

from mpi_operator.controlplane.cluster import free_port
from mpi_operator.kube.client import Client
from tests.real.ground import Ground, OperatorProcess
from tests.real.helpers import create_mpijob, eventually, example, items, pods_path, wait_condition, with_annotations


@pytest.fixture
def counted(ground: Ground) -> Iterator[tuple[OperatorProcess, int]]:
    port = free_port()
    op = ground.operator("--monitoring-port", str(port), name="counted").wait_ready()
    yield op, port
    op.stop()


def requests_by_method(port: int, method: str) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    pattern = re.compile(r'^rest_client_requests_total\{([^}]*)\} ([0-9.e+]+)$', re.MULTILINE)
    return int(sum(float(v) for labels, v in pattern.findall(text) if f'method="{method}"' in labels))


async def test_each_worker_is_deleted_once(counted: tuple[OperatorProcess, int], api: Client,
                                           namespace: str) -> None:
    _, port = counted
    doc = copy.deepcopy(example("pi.yaml"))
    doc["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] = 4
    # Workers take 3 s to stop: they stay terminating while the job's later syncs run.
    doc = with_annotations(doc, "Worker", {"sandbox.mpi-operator/termination-seconds": "3"})
    before = requests_by_method(port, "DELETE")
    await create_mpijob(api, namespace, doc)
    await wait_condition(api, namespace, "pi", "Succeeded", within=90)

    async def workers_gone() -> bool:
        return not await items(api, pods_path(namespace), "training.kubeflow.org/job-role=worker")
    await eventually(workers_gone, 60, "the workers deleted by cleanPodPolicy Running")
    assert requests_by_method(port, "DELETE") - before == 4
