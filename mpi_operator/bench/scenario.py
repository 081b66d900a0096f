"""One workload under one driver in a fresh sandbox: N MPIJobs x W workers created at once, timed to all
children created (and, with the simulated cluster, to all Succeeded), with the driver's CPU seconds and API
requests counted from the moment the jobs are created until the driver is quiet again.

Requests are counted by the sandbox's request log, filtered by the driver's client id (its User-Agent), after a
reset once the driver is ready, so start-up lists and watches are not charged to the jobs. The optional idle
window then counts the driver's writes while nothing changes.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from mpi_operator.bench import procfs
from mpi_operator.bench.drivers import make_driver
from mpi_operator.bench.simulation import simulated_cluster
from mpi_operator.bench.workload import Progress, create_jobs, store_feed
from mpi_operator.sandbox import Sandbox
from mpi_operator.sandbox.apiserver.accounting import RequestLog

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
NAMESPACE = "bench"


class PerJob:
    """What a run costs per job, on either target (its dataclass holds the totals)."""

    jobs: int
    cpu_seconds: float
    requests_total: int

    @property
    def cpu_per_job(self) -> float:
        return self.cpu_seconds / self.jobs

    @property
    def requests_per_job(self) -> float:
        return self.requests_total / self.jobs


@dataclass
class RunResult(PerJob):
    driver: str
    jobs: int
    workers: int
    seconds_to_children: float
    seconds_to_succeeded: float | None
    cpu_seconds: float
    requests_by_verb: dict[str, int]
    requests_by_resource: dict[str, int]
    requests_total: int
    child_latency_p50: float
    child_latency_p99: float
    sandbox_cpu_seconds: float = 0.0
    idle: dict[str, Any] | None = None

    @property
    def wall_seconds(self) -> float:
        """The workload's wall time: to all Succeeded when measured, else to all children created."""
        return self.seconds_to_succeeded if self.seconds_to_succeeded is not None else self.seconds_to_children

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        # The benchmark process (sandbox, simulated kubelet and Job controller): near 1.0, it set the pace.
        out["sandbox_cpu_share_of_one_core"] = self.sandbox_cpu_seconds / self.wall_seconds
        out.update(wall_seconds=self.wall_seconds, cpu_seconds_per_job=self.cpu_per_job,
                   wall_seconds_per_job=self.wall_seconds / self.jobs, requests_per_job=self.requests_per_job)
        return out


class Counted(Protocol):
    """A run's request counts, on either target."""

    jobs: int
    requests_by_resource: dict[str, int]


def over_floor(operator: Counted, floor: Counted) -> dict[str, float]:
    """Per `verb resource`: the operator's requests per job minus the floor's (only where they differ)."""
    keys = set(operator.requests_by_resource) | set(floor.requests_by_resource)
    op, fl = operator.requests_by_resource, floor.requests_by_resource
    diff = {k: op.get(k, 0) / operator.jobs - fl.get(k, 0) / floor.jobs for k in sorted(keys)}
    return {k: round(v, 3) for k, v in diff.items() if abs(v) > 1e-9}


def requests_of(log: RequestLog, client: str) -> tuple[dict[str, int], dict[str, int]]:
    by_verb: Counter[str] = Counter()
    by_resource: Counter[str] = Counter()
    for key, n in log.counts.items():
        if key.client == client:
            by_verb[key.verb] += n
            by_resource[f"{key.verb} {key.resource}"] += n
    return dict(sorted(by_verb.items())), dict(sorted(by_resource.items()))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def new_sandbox(tmp: Path, name: str) -> Sandbox:
    # Large watch queues and history: the workload is created in one burst and must not overflow a watcher.
    return Sandbox(port=0, kubeconfig_path=tmp / f"kubeconfig-{name}", history_size=200_000,
                   watch_queue_size=200_000)


async def run_workload(kind: str, jobs: int, workers: int, tmp: Path, concurrency: int, simulate: bool,
                       within: float, idle_seconds: float = 0.0, quiet: float = 1.0) -> RunResult:
    async with new_sandbox(tmp, f"{kind}-{jobs}") as sb, simulated_cluster(sb.store, simulate) as cluster:
        sb.store.create("namespaces", None, {"metadata": {"name": NAMESPACE}})
        lifecycle = cluster is not None
        driver = make_driver(kind, sb.kubeconfig_path, tmp, NAMESPACE, concurrency, lifecycle)
        await driver.start()
        try:
            await driver.quiet(quiet / 2)
            sb.requests.reset()
            cpu_before, sandbox_cpu_before = driver.cpu_seconds(), procfs.cpu_seconds(os.getpid())
            with Progress(store_feed(sb.store), NAMESPACE, workers) as progress:
                progress.t0 = time.monotonic()
                create_jobs(sb.store, NAMESPACE, jobs, workers)
                to_children = await progress.wait("children", jobs, within, driver.check_alive)
                to_succeeded = (await progress.wait("succeeded", jobs, within, driver.check_alive)
                                if lifecycle else None)
                sandbox_cpu = procfs.cpu_seconds(os.getpid()) - sandbox_cpu_before
                cpu_after = await driver.quiet(quiet)
                latencies = progress.latencies("children")
            by_verb, by_resource = requests_of(sb.requests, driver.client)
            result = RunResult(kind, jobs, workers, to_children, to_succeeded, cpu_after - cpu_before, by_verb,
                               by_resource, sum(by_verb.values()), percentile(latencies, 50),
                               percentile(latencies, 99), sandbox_cpu)
            if idle_seconds > 0:
                result.idle = await idle_window(sb, driver.client, idle_seconds)
            return result
        finally:
            await driver.stop()


async def idle_window(sb: Sandbox, client: str, seconds: float) -> dict[str, Any]:
    """The driver's requests during `seconds` after convergence; writes must be 0."""
    sb.requests.reset()
    await asyncio.sleep(seconds)
    by_verb, by_resource = requests_of(sb.requests, client)
    writes = sum(n for verb, n in by_verb.items() if verb in WRITE_VERBS)
    return {"seconds": seconds, "writes": writes, "requests_by_verb": by_verb, "requests_by_resource": by_resource}


@dataclass
class LatencyResult:
    samples: int
    workers: int
    seconds_to_children: list[float]
    seconds_to_running: list[float] | None
    seconds_to_succeeded: list[float] | None

    def as_json(self) -> dict[str, Any]:
        def summary(values: list[float] | None) -> dict[str, float] | None:
            if not values:
                return None
            return {"median": statistics.median(values), "min": min(values), "max": max(values)}

        return {"samples": self.samples, "workers": self.workers,
                "seconds_to_children": summary(self.seconds_to_children),
                "seconds_to_running": summary(self.seconds_to_running),
                "seconds_to_succeeded": summary(self.seconds_to_succeeded)}


async def run_latency(tmp: Path, samples: int, workers: int, concurrency: int, simulate: bool,
                      within: float, quiet: float = 0.5) -> LatencyResult:
    """One MPIJob at a time under one operator, each in its own namespace, `samples` times."""
    children: list[float] = []
    running: list[float] = []
    succeeded: list[float] = []
    async with new_sandbox(tmp, "latency") as sb, simulated_cluster(sb.store, simulate) as cluster:
        lifecycle = cluster is not None
        driver = make_driver("operator", sb.kubeconfig_path, tmp, "latency", concurrency, lifecycle)
        await driver.start()
        try:
            await driver.quiet(quiet)
            for i in range(samples):
                namespace = f"latency-{i}"
                sb.store.create("namespaces", None, {"metadata": {"name": namespace}})
                with Progress(store_feed(sb.store), namespace, workers) as progress:
                    progress.t0 = time.monotonic()
                    create_jobs(sb.store, namespace, 1, workers)
                    children.append(await progress.wait("children", 1, within, driver.check_alive))
                    if lifecycle:
                        running.append(await progress.wait("running", 1, within, driver.check_alive))
                        succeeded.append(await progress.wait("succeeded", 1, within, driver.check_alive))
                await driver.quiet(quiet)
        finally:
            await driver.stop()
    return LatencyResult(samples, workers, children, running if lifecycle else None,
                         succeeded if lifecycle else None)
