"""Operator memory per cached pod: RSS before and after 10,000 worker pods enter its pod informer, with and
without the cache transforms (two operator processes side by side over the same sandbox).

The pods are real worker pods (the operator's own builder, with the operator-name label and the MPIJob as
controller owner) with the status a kubelet writes for a running pod, created straight in the store. Their
MPIJobs are managed by MultiKueue, so the operator caches the pods but writes nothing (decisions Q3), and the
numbers are the caches' alone. The sandbox keeps no managedFields, which a real API server adds to every object
(about 1 KB per pod) and the transform drops: in a real cluster the transform saves more than measured here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpi_operator.api.constants import MANAGED_BY_MULTIKUEUE
from mpi_operator.api.defaults import apply_defaults
from mpi_operator.api.validation import parse_mpijob
from mpi_operator.bench.drivers import OperatorDriver
from mpi_operator.bench.scenario import new_sandbox
from mpi_operator.bench.workload import MPIJOBS, mpijob_manifest
from mpi_operator.controller import worker
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.sandbox.apiserver.storage import Storage
from mpi_operator.sandbox.timefmt import now_rfc3339

JSON = dict[str, Any]
NAMESPACE = "memory"
NODE = "bench-node"
WORKERS_PER_JOB = 4
BATCH = 250  # pods created per turn of the event loop, so the sandbox keeps serving the watches meanwhile


@dataclass
class MemoryResult:
    pods: int
    transform: bool
    rss_before: int
    rss_after: int

    @property
    def bytes_per_pod(self) -> float:
        return (self.rss_after - self.rss_before) / self.pods

    def as_json(self) -> dict[str, Any]:
        return {"pods": self.pods, "cache_transform": self.transform, "rss_before_bytes": self.rss_before,
                "rss_after_bytes": self.rss_after, "bytes_per_cached_pod": round(self.bytes_per_pod)}


def running_status(pod: JSON, index: int) -> JSON:
    """What the kubelet reports for a started, ready pod."""
    now = now_rfc3339()
    ip = f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"
    conditions = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                  for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    containers = [{
        "name": c["name"], "state": {"running": {"startedAt": now}}, "lastState": {}, "ready": True,
        "restartCount": 0, "image": c["image"], "started": True,
        "imageID": f"docker.io/{c['image']}@sha256:{'0' * 64}",
        "containerID": f"containerd://{index:064x}",
    } for c in pod["spec"]["containers"]]
    return {"phase": "Running", "conditions": conditions, "hostIP": "172.18.0.2", "hostIPs": [{"ip": "172.18.0.2"}],
            "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now, "qosClass": "Guaranteed",
            "containerStatuses": containers}


def create_managed_jobs(store: Storage, jobs: int) -> list[JSON]:
    created = []
    for i in range(jobs):
        body = mpijob_manifest(f"mem-{i}", NAMESPACE, WORKERS_PER_JOB)
        body["spec"]["runPolicy"]["managedBy"] = MANAGED_BY_MULTIKUEUE
        created.append(store.create(MPIJOBS, NAMESPACE, body))
    return created


async def create_pods(store: Storage, jobs: list[JSON]) -> int:
    options = ControllerOptions()
    count = 0
    for stored in jobs:
        parsed, _ = parse_mpijob(stored)
        assert parsed is not None
        job = apply_defaults(parsed)
        for index in range(WORKERS_PER_JOB):
            pod = worker.desired_worker_pod(job, index, options)
            pod["spec"]["nodeName"] = NODE
            created = store.create("pods", NAMESPACE, pod)
            store.patch("pods", NAMESPACE, created["metadata"]["name"], "merge",
                        {"status": running_status(created, count)}, subresource="status")
            count += 1
            if count % BATCH == 0:
                await asyncio.sleep(0)
    return count


async def measure_memory(tmp: Path, pods: int, quiet: float = 2.0) -> list[MemoryResult]:
    async with new_sandbox(tmp, "memory") as sb:
        sb.store.create("namespaces", None, {"metadata": {"name": NAMESPACE}})
        jobs = create_managed_jobs(sb.store, pods // WORKERS_PER_JOB)
        operators = [OperatorDriver(sb.kubeconfig_path, tmp / "operator-memory-slim.log", 2),
                     OperatorDriver(sb.kubeconfig_path, tmp / "operator-memory-full.log", 2, "--no-cache-transform")]
        try:
            await asyncio.gather(*(op.start() for op in operators))
            await asyncio.gather(*(op.quiet(quiet / 2) for op in operators))
            before = [op.rss_bytes() for op in operators]
            created = await create_pods(sb.store, jobs)
            await asyncio.gather(*(op.quiet(quiet, within=300) for op in operators))
            after = [op.rss_bytes() for op in operators]
        finally:
            await asyncio.gather(*(op.stop() for op in operators))
    return [MemoryResult(created, transform, b, a)
            for transform, b, a in zip((True, False), before, after, strict=True)]
