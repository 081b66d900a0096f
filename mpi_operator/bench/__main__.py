"""`python -m mpi_operator.bench [--target sandbox|real] [--quick | --smoke]`: run every measurement of the
target, print the table, write the JSON (bench/results.json; bench/results-real.json for the real target).

`--target real` runs the operator and the floor on one real control plane and node agent (`real.py`).
`--target mpi` times the pi example from `kubectl apply` to its MPI ranks and to Succeeded with the node agent's
process runtime, on a real control plane and on the sandbox (`mpi.py`; bench/results-mpi.json).

Full mode is issue 7's workload, fitting in 15 minutes on 2 cores: sandbox capacity (8 clients, 4,000
creates, 10 watchers), single-job latency (5 samples, 2 workers), 500 MPIJobs x 4 workers under the operator
and under the floor (two alternating rounds each, the fastest kept), per-job cost at 100, 500 and 2,000 jobs,
60 s idle, memory with 10,000 pods. `--quick` shortens the idle window to 10 s; `--smoke` runs tiny sizes to
check the harness (its numbers mean nothing). Operator threadiness equals floor concurrency (`--concurrency`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mpi_operator.bench import mpi, procfs, real, report
from mpi_operator.bench.drivers import FLOOR, OPERATOR
from mpi_operator.bench.memory import measure_memory
from mpi_operator.bench.mpi_ground import GROUNDS
from mpi_operator.bench.sandbox_capacity import run_capacity
from mpi_operator.bench.scenario import RunResult, over_floor, run_latency, run_workload
from mpi_operator.bench.simulation import LAUNCHER_RUN_SECONDS
from mpi_operator.controlplane.binaries import Unavailable
from mpi_operator.controlplane.cluster import StartError


@dataclass(frozen=True)
class Sizes:
    capacity_writes: int
    latency_samples: int
    jobs: int
    scaling: tuple[int, ...]
    idle_seconds: float
    memory_pods: int
    within: float
    quiet: float = 1.0  # seconds without driver CPU that count as "converged"
    rounds: int = 2  # operator/floor rounds on the throughput workload


FULL = Sizes(capacity_writes=4000, latency_samples=5, jobs=500, scaling=(100, 500, 2000), idle_seconds=60.0,
             memory_pods=10_000, within=600.0)
QUICK = Sizes(capacity_writes=4000, latency_samples=5, jobs=500, scaling=(100, 500, 2000), idle_seconds=10.0,
              memory_pods=10_000, within=600.0)
SMOKE = Sizes(capacity_writes=100, latency_samples=1, jobs=5, scaling=(5,), idle_seconds=0.5, memory_pods=40,
              within=60.0, quiet=0.3, rounds=1)
WORKERS = 4
LATENCY_WORKERS = 2
CAPACITY_CLIENTS = 8
WATCHERS = 10


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC).strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def run(sizes: Sizes, concurrency: int, simulate: bool, tmp: Path, mode: str) -> dict[str, Any]:
    started = time.monotonic()
    sim = simulate
    meta: dict[str, Any] = {
        "mode": mode, "started": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": _cpus(),
        "python": platform.python_version(), "load_average_at_start": procfs.load_average(),
        "simulated_cluster": sim, "launcher_run_seconds": LAUNCHER_RUN_SECONDS, "concurrency": concurrency,
        "workers_per_job": WORKERS,
        "scaled": ("issue 7 sizes are kept (500x4 throughput, 100/500/2,000 scaling, 10,000 cached pods, 60 s "
                   "idle in full mode); single-job latency is the median of several samples; the sandbox capacity "
                   "uses 8 clients and 4,000 creates"),
    }
    if not sim:
        meta["not_measured"] = ("Running/Succeeded stages (--no-simulation): wall times and requests stop at all "
                                "children created")
    log("sandbox capacity")
    capacity = await run_capacity(tmp, CAPACITY_CLIENTS, sizes.capacity_writes, WATCHERS)
    log("single-job latency")
    latency = await run_latency(tmp, sizes.latency_samples, LATENCY_WORKERS, concurrency, sim, sizes.within,
                                quiet=sizes.quiet / 2)
    # Operator and floor alternate (ABBA...) and each keeps its fastest round: load from other processes on
    # a shared machine only ever slows a run down, and alternating spreads any drift over both drivers.
    rounds: list[RunResult] = []
    for i in range(sizes.rounds):
        for kind in (OPERATOR, FLOOR) if i % 2 == 0 else (FLOOR, OPERATOR):
            idle = sizes.idle_seconds if kind == OPERATOR and not any(r.idle for r in rounds) else 0.0
            log(f"throughput round {i + 1}: {kind}, {sizes.jobs} jobs x {WORKERS} workers"
                + (f", then {idle:g} s idle" if idle else ""))
            rounds.append(await run_workload(kind, sizes.jobs, WORKERS, tmp, concurrency, sim, sizes.within,
                                             idle_seconds=idle, quiet=sizes.quiet))
    operator = min((r for r in rounds if r.driver == OPERATOR), key=lambda r: r.wall_seconds)
    floor = min((r for r in rounds if r.driver == FLOOR), key=lambda r: r.wall_seconds)
    idle_run = next(r for r in rounds if r.idle is not None)
    runs: dict[int, RunResult] = {sizes.jobs: operator}
    for jobs in sizes.scaling:
        if jobs not in runs:
            log(f"scaling: operator, {jobs} jobs")
            runs[jobs] = await run_workload(OPERATOR, jobs, WORKERS, tmp, concurrency, sim, sizes.within,
                                            quiet=sizes.quiet)
    log(f"memory: {sizes.memory_pods} cached pods, with and without the cache transform")
    memory = await measure_memory(tmp, sizes.memory_pods, quiet=2 * sizes.quiet)
    meta["load_average_at_end"] = procfs.load_average()
    meta["seconds"] = round(time.monotonic() - started, 1)
    meta["throughput_rounds"] = [{"driver": r.driver, "wall_seconds": r.wall_seconds,
                                  "seconds_to_children": r.seconds_to_children, "cpu_seconds_per_job": r.cpu_per_job,
                                  "requests_per_job": r.requests_per_job} for r in rounds]
    return assemble(meta, capacity, latency.as_json(), operator, floor, idle_run.idle or {},
                    [runs[j] for j in sorted(sizes.scaling)], [m.as_json() for m in memory])


def assemble(meta: dict[str, Any], capacity: dict[str, Any], latency: dict[str, Any], operator: RunResult,
             floor: RunResult, idle: dict[str, Any], scaling: list[RunResult],
             memory: list[dict[str, Any]]) -> dict[str, Any]:
    smallest, largest = scaling[0], scaling[-1]
    slim = next(m for m in memory if m["cache_transform"])
    summary: dict[str, Any] = {
        # To all Succeeded with the simulated cluster (the whole life of the workload), else to all children.
        "operator_vs_floor_wall_ratio": operator.wall_seconds / floor.wall_seconds,
        "operator_vs_floor_children_ratio": operator.seconds_to_children / floor.seconds_to_children,
        "requests_per_job": operator.requests_per_job,
        "floor_requests_per_job": floor.requests_per_job,
        "requests_per_job_minus_floor": operator.requests_per_job - floor.requests_per_job,
        "requests_per_job_over_floor": over_floor(operator, floor),
        "idle_writes": idle.get("writes"),
        "bytes_per_cached_pod": slim["bytes_per_cached_pod"],
        "per_job_cost_ratio_2000_vs_100": largest.cpu_per_job / smallest.cpu_per_job,
        "per_job_wall_ratio_2000_vs_100": ((largest.wall_seconds / largest.jobs)
                                           / (smallest.wall_seconds / smallest.jobs)),
        "single_job_seconds_to_children": latency["seconds_to_children"]["median"],
        "sandbox_writes_per_second": capacity["writes_per_second"],
    }
    if latency.get("seconds_to_running"):
        summary["single_job_seconds_to_running"] = latency["seconds_to_running"]["median"]
        summary["single_job_seconds_to_succeeded"] = latency["seconds_to_succeeded"]["median"]
    meta["scaling_sizes"] = [r.jobs for r in scaling]
    return {**summary, "targets": report.targets(summary), "meta": meta, "sandbox_capacity": capacity,
            "latency": latency, "idle": idle,
            "throughput": {"operator": operator.as_json(), "floor": floor.as_json()},
            "scaling": [r.as_json() for r in scaling], "memory": memory}


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mpi_operator.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="10 s idle window instead of 60 s")
    size.add_argument("--smoke", action="store_true", help="tiny sizes, to check the harness only")
    p.add_argument("--concurrency", type=int, default=16,
                   help="operator --threadiness and floor jobs in flight (default 16)")
    p.add_argument("--no-simulation", dest="simulate", action="store_false",
                   help="do not start the simulated kubelet and Job controller even if present")
    p.add_argument("--target", choices=("sandbox", "real", "mpi"), default="sandbox",
                   help="the sandbox (default), a real control plane with the node agent, or real MPI (the pi "
                        "example with the process runtime)")
    p.add_argument("--ground", choices=(*GROUNDS, "both"), default="both",
                   help="--target mpi: on the real control plane, the sandbox, or both (default)")
    p.add_argument("--output", type=Path, default=None,
                   help="default bench/results.json, or bench/results-<target>.json with --target real|mpi")
    p.add_argument("--workdir", type=Path, default=None,
                   help="keep every log (control plane, audit, drivers) in this new directory instead of a "
                        "temporary one")
    args = p.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    output = args.output or Path("bench/results.json" if args.target == "sandbox"
                                 else f"bench/results-{args.target}.json")
    grounds = GROUNDS if args.ground == "both" else (args.ground,)
    if args.target == "mpi" and (missing := mpi.missing(grounds)) is not None:
        ci = mpi.under_ci()
        print(f"!!! {missing}: the real-MPI benchmark is skipped" + ("; CI=true requires it" if ci else ""),
              file=sys.stderr)
        return 1 if ci else 0
    with contextlib.ExitStack() as stack:
        tmp = args.workdir or stack.enter_context(tempfile.TemporaryDirectory(prefix=f"mpi-bench-{args.target}-"))
        if args.workdir:
            args.workdir.mkdir(parents=True)
        if args.target == "mpi":
            try:
                results = asyncio.run(mpi.run(mpi.SMOKE if args.smoke else mpi.FULL, grounds, args.concurrency,
                                              Path(tmp), mode, log))
            except StartError as e:
                print(f"python -m mpi_operator.bench: a ground did not start: {e}", file=sys.stderr)
                return 2
        elif args.target == "real":
            real_sizes = real.SMOKE if args.smoke else real.QUICK if args.quick else real.FULL
            try:
                results = asyncio.run(real.run(real_sizes, args.concurrency, Path(tmp), mode, log))
            except (Unavailable, StartError) as e:
                print(f"python -m mpi_operator.bench: the real control plane cannot run here: {e}", file=sys.stderr)
                return 2
        else:
            sizes = SMOKE if args.smoke else QUICK if args.quick else FULL
            results = asyncio.run(run(sizes, args.concurrency, args.simulate, Path(tmp), mode))
    report.write_results(output, results)
    print(report.mpi_table(results) if args.target == "mpi" else report.table(results))
    print(f"\nwrote {output} ({args.target} target, {mode} mode, {results['meta']['seconds']} s, load average at "
          f"start {results['meta']['load_average_at_start'][0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
