"""`--target real`: the operator and the floor on one real control plane and node agent, in the same run.

Same shape as the sandbox bench: single-job latency (one operator, one job at a time in its own namespace), then
alternating rounds (operator, floor, floor, operator, ...) of N MPIJobs x W workers, each round in a fresh
namespace with a fresh driver (the operator with `--namespace` of its round, since earlier rounds' objects stay),
each driver's fastest round kept, and an idle window after the operator's first round. An unmeasured warm-up
round under the floor comes first: every run's first burst had kube-apiserver drop slow watches of every client.
Progress is timed from watches (`real_watch`); requests are counted from kube-apiserver's audit log (`audit`).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mpi_operator.bench import procfs, report
from mpi_operator.bench.audit import AuditLog, Requests
from mpi_operator.bench.drivers import FLOOR, OPERATOR, FloorDriver, OperatorDriver, make_driver
from mpi_operator.bench.real_cluster import RealCluster
from mpi_operator.bench.real_watch import ClusterWatch
from mpi_operator.bench.scenario import PerJob, over_floor, percentile
from mpi_operator.bench.simulation import LAUNCHER_RUN_SECONDS
from mpi_operator.bench.workload import Progress, mpijob_manifest
from mpi_operator.controller.cache import MPIJOBS
from mpi_operator.kube.client import Client

WORKERS = 4
LATENCY_WORKERS = 2


@dataclass(frozen=True)
class RealSizes:
    latency_samples: int
    jobs: int
    rounds: int  # rounds per driver
    idle_seconds: float
    nodes: int  # kube-scheduler counts each pod's 1 CPU: 64 CPUs a node must hold jobs x (W + 1) pods
    within: float
    quiet: float = 1.0
    warmup: bool = True


# Sized to fit about 10 minutes on 2 cores (see bench/README.md for the time each part takes).
FULL = RealSizes(latency_samples=5, jobs=100, rounds=3, idle_seconds=60.0, nodes=10, within=600.0)
QUICK = RealSizes(latency_samples=5, jobs=100, rounds=3, idle_seconds=10.0, nodes=10, within=600.0)
SMOKE = RealSizes(latency_samples=1, jobs=3, rounds=1, idle_seconds=0.5, nodes=1, within=60.0, quiet=0.3,
                  warmup=False)


@dataclass
class RealRun(PerJob):
    driver: str
    namespace: str
    jobs: int
    workers: int
    seconds_to_children: float
    seconds_to_succeeded: float
    cpu_seconds: float
    requests_by_verb: dict[str, int]
    requests_by_resource: dict[str, int]
    requests_by_code: dict[str, int]
    failed_requests: dict[str, int]
    requests_total: int
    child_latency_p50: float
    child_latency_p99: float
    cluster_cpu_seconds: dict[str, float] = field(default_factory=dict)
    # Watches kube-apiserver dropped as too slow during the round: the driver's own (in its namespace), and
    # everyone else's (the scheduler, controller manager, node agent and the benchmark's progress watches).
    driver_watches_closed: dict[str, int] = field(default_factory=dict)
    other_watches_closed: dict[str, int] = field(default_factory=dict)
    idle: dict[str, Any] | None = None

    @property
    def wall_seconds(self) -> float:
        return self.seconds_to_succeeded

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(wall_seconds=self.wall_seconds, cpu_seconds_per_job=self.cpu_per_job,
                   wall_seconds_per_job=self.wall_seconds / self.jobs, requests_per_job=self.requests_per_job,
                   apiserver_and_etcd_cpu_seconds_per_job=(self.cluster_cpu_seconds.get("kube-apiserver", 0.0)
                                                           + self.cluster_cpu_seconds.get("etcd", 0.0)) / self.jobs)
        return out


def _cpu_delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {name: round(after[name] - before.get(name, 0.0), 2) for name in after}


def _alive(driver: OperatorDriver | FloorDriver, cluster: RealCluster) -> Callable[[], None]:
    """Raises when the driver or a cluster process died, so a wait fails at once instead of timing out."""

    def alive() -> None:
        driver.check_alive()
        cluster.check_alive()

    return alive


async def create_jobs(client: Client, namespace: str, count: int, workers: int) -> None:
    """`count` MPIJobs over HTTP, all requests in flight at once (a burst of `kubectl apply`)."""
    mpijobs = client.resource(MPIJOBS)
    await asyncio.gather(*(mpijobs.create(mpijob_manifest(f"job-{i}", namespace, workers), namespace)
                           for i in range(count)))


def _requests_json(requests: Requests, seconds: float) -> dict[str, Any]:
    return {"seconds": seconds, "writes": requests.writes, "requests_by_verb": requests.by_verb,
            "requests_by_resource": requests.by_resource, "requests_by_code": requests.by_code}


async def idle_window(audit: AuditLog, user_agent: str, seconds: float) -> dict[str, Any]:
    """The driver's requests during `seconds` after convergence; writes must be 0."""
    offset = audit.mark()
    await asyncio.sleep(seconds)
    return _requests_json(audit.requests_since(offset, user_agent), seconds)


async def run_round(kind: str, cluster: RealCluster, watch: ClusterWatch, namespace: str, sizes: RealSizes,
                    concurrency: int, log_dir: Path, idle_seconds: float = 0.0) -> RealRun:
    await cluster.namespace(namespace)
    extra = ("--namespace", namespace) if kind == OPERATOR else ()
    driver = make_driver(kind, cluster.operator_kubeconfig, log_dir, namespace, concurrency, True, extra)
    await driver.start()
    alive = _alive(driver, cluster)
    try:
        await driver.quiet(sizes.quiet / 2)
        offset, log_offset = cluster.audit.mark(), cluster.apiserver_log_mark()
        cpu_before, cluster_before = driver.cpu_seconds(), cluster.cpu_seconds()
        with Progress(watch.listen, namespace, WORKERS) as progress:
            progress.t0 = time.monotonic()
            await create_jobs(cluster.client, namespace, sizes.jobs, WORKERS)
            to_children = await progress.wait("children", sizes.jobs, sizes.within, alive)
            to_succeeded = await progress.wait("succeeded", sizes.jobs, sizes.within, alive)
            cluster_cpu = _cpu_delta(cluster.cpu_seconds(), cluster_before)
            cpu_after = await driver.quiet(sizes.quiet)
            latencies = progress.latencies("children")
        requests = cluster.audit.requests_since(offset, driver.client)
        result = RealRun(kind, namespace, sizes.jobs, WORKERS, to_children, to_succeeded, cpu_after - cpu_before,
                         requests.by_verb, requests.by_resource, requests.by_code, requests.failed, requests.total,
                         percentile(latencies, 50), percentile(latencies, 99), cluster_cpu)
        for watch_key, n in cluster.watchers_closed_since(log_offset).items():
            own = watch_key.split("/")[2:3] == [namespace]  # `/pods/<namespace>/ ...`
            (result.driver_watches_closed if own else result.other_watches_closed)[watch_key] = n
        if idle_seconds > 0:
            result.idle = await idle_window(cluster.audit, driver.client, idle_seconds)
        return result
    finally:
        await driver.stop()


async def run_latency(cluster: RealCluster, watch: ClusterWatch, sizes: RealSizes, concurrency: int,
                      log_dir: Path) -> dict[str, Any]:
    """One operator (all namespaces); one MPIJob x 2 workers at a time, each in its own namespace."""
    stages: dict[str, list[float]] = {"children": [], "running": [], "succeeded": []}
    driver = make_driver(OPERATOR, cluster.operator_kubeconfig, log_dir, "latency", concurrency, True)
    await driver.start()
    alive = _alive(driver, cluster)
    try:
        await driver.quiet(sizes.quiet / 2)
        for i in range(sizes.latency_samples):
            namespace = f"latency-{i}"
            await cluster.namespace(namespace)
            with Progress(watch.listen, namespace, LATENCY_WORKERS) as progress:
                progress.t0 = time.monotonic()
                await create_jobs(cluster.client, namespace, 1, LATENCY_WORKERS)
                for stage, values in stages.items():
                    values.append(await progress.wait(stage, 1, sizes.within, alive))
            await driver.quiet(sizes.quiet / 2)
    finally:
        await driver.stop()

    def summary(values: list[float]) -> dict[str, float]:
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    return {"samples": sizes.latency_samples, "workers": LATENCY_WORKERS,
            **{f"seconds_to_{stage}": summary(values) for stage, values in stages.items()}}


async def run(sizes: RealSizes, concurrency: int, tmp: Path, mode: str,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    started = time.monotonic()
    meta: dict[str, Any] = {
        "target": "real", "mode": mode, "load_average_at_start": procfs.load_average(),
        "launcher_run_seconds": LAUNCHER_RUN_SECONDS, "concurrency": concurrency, "workers_per_job": WORKERS,
        "nodes": sizes.nodes, "node_agent_runtime": "simulated",
    }
    log_dir = tmp / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log("real control plane, operator RBAC, node agent")
    async with RealCluster(tmp / "controlplane", sizes.nodes, LAUNCHER_RUN_SECONDS, concurrency) as cluster, \
            ClusterWatch(cluster.client) as watch:
        meta["cluster_startup_seconds"] = round(cluster.startup_seconds, 1)
        log("single-job latency")
        latency = await run_latency(cluster, watch, sizes, concurrency, log_dir)
        if sizes.warmup:
            log(f"warm-up (not measured): floor, {sizes.jobs} jobs x {WORKERS} workers")
            warmup = await run_round(FLOOR, cluster, watch, "bench-0-warmup", sizes, concurrency, log_dir)
            meta["warmup_round"] = _round_json(warmup)
        rounds: list[RealRun] = []
        for i in range(sizes.rounds):
            for kind in (OPERATOR, FLOOR) if i % 2 == 0 else (FLOOR, OPERATOR):
                idle = sizes.idle_seconds if kind == OPERATOR and not any(r.idle for r in rounds) else 0.0
                log(f"throughput round {i + 1}: {kind}, {sizes.jobs} jobs x {WORKERS} workers"
                    + (f", then {idle:g} s idle" if idle else ""))
                rounds.append(await run_round(kind, cluster, watch, f"bench-{len(rounds) + 1}-{kind}", sizes,
                                              concurrency, log_dir, idle))
    meta["load_average_at_end"] = procfs.load_average()
    meta["seconds"] = round(time.monotonic() - started, 1)
    return assemble(meta, latency, rounds)


def assemble(meta: dict[str, Any], latency: dict[str, Any], rounds: list[RealRun]) -> dict[str, Any]:
    operator = min((r for r in rounds if r.driver == OPERATOR), key=lambda r: r.wall_seconds)
    floor = min((r for r in rounds if r.driver == FLOOR), key=lambda r: r.wall_seconds)
    idle = next(r.idle for r in rounds if r.idle is not None)
    summary: dict[str, Any] = {
        "operator_vs_floor_wall_ratio": operator.wall_seconds / floor.wall_seconds,
        "operator_vs_floor_children_ratio": operator.seconds_to_children / floor.seconds_to_children,
        "seconds_to_succeeded": operator.seconds_to_succeeded,
        "floor_seconds_to_succeeded": floor.seconds_to_succeeded,
        "cpu_seconds_per_job": operator.cpu_per_job,
        "floor_cpu_seconds_per_job": floor.cpu_per_job,
        "requests_per_job": operator.requests_per_job,
        "floor_requests_per_job": floor.requests_per_job,
        "requests_per_job_minus_floor": operator.requests_per_job - floor.requests_per_job,
        "requests_per_job_over_floor": over_floor(operator, floor),
        "failed_requests": operator.failed_requests,
        "floor_failed_requests": floor.failed_requests,
        "idle_writes": idle["writes"],
        "single_job_seconds_to_children": latency["seconds_to_children"]["median"],
        "single_job_seconds_to_running": latency["seconds_to_running"]["median"],
        "single_job_seconds_to_succeeded": latency["seconds_to_succeeded"]["median"],
    }
    meta["throughput_rounds"] = [_round_json(r) for r in rounds]
    return {**summary, "targets": report.targets(summary, report.REAL_TARGET_KEYS), "meta": meta,
            "latency": latency, "idle": idle,
            "throughput": {"operator": operator.as_json(), "floor": floor.as_json()}}


def _round_json(r: RealRun) -> dict[str, Any]:
    return {"driver": r.driver, "namespace": r.namespace, "wall_seconds": r.wall_seconds,
            "seconds_to_children": r.seconds_to_children, "cpu_seconds_per_job": r.cpu_per_job,
            "requests_per_job": r.requests_per_job, "failed_requests": r.failed_requests,
            "driver_watches_closed": sum(r.driver_watches_closed.values()),
            "other_watches_closed": sum(r.other_watches_closed.values())}
