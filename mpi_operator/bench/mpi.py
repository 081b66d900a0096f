"""`--target mpi`: seconds from `kubectl apply` of the pi example to every child created, to the first MPI rank
running, to every rank reported, to Running and to Succeeded, with the node agent's process runtime (sshd, mpirun
and pi as real processes in the pods' own namespaces), on a real control plane and on the sandbox.

Per ground: one operator (its own ServiceAccount on the real control plane), an unmeasured warm-up job, then one
MPIJob x 2 workers at a time (`samples`, each in its own namespace), then `burst_jobs` MPIJobs x 4 workers
(`-n 4`) in one manifest, one `kubectl apply`. MPIJob stages come from watches (`workload.Progress`); rank lines
from the launcher logs (`launchers`); a launcher's failed attempts from its Job's `status.failed` and its pod's
container restarts. It asserts nothing; a job that does not succeed within `within` ends the run.
"""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mpi_operator.bench import procfs
from mpi_operator.bench.drivers import OPERATOR, make_driver
from mpi_operator.bench.launchers import Launcher, Launchers
from mpi_operator.bench.mpi_ground import GROUNDS, NODES, REAL, MpiGround
from mpi_operator.bench.real_watch import ClusterWatch
from mpi_operator.bench.workload import JobProgress, Progress
from mpi_operator.controlplane.binaries import Unavailable, locate
from mpi_operator.nodeagent.process import unavailable_reason

JSON = dict[str, Any]
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pi.yaml"  # the shared example, as `make run` applies it
SINGLE_WORKERS = 2
STAGES = ("created", "children", "first_rank", "all_ranks", "running", "succeeded")
HOW_FIRST_RANK = (
    "the pi program's `Rank r of n running on HOST` line (printed by each rank once MPI_Init returned) in the "
    "launcher's log, read from the node agent's kubelet endpoint every poll_seconds; a stage is timed when the "
    "read showing it returned, and *_bound is how much earlier the line may have been written (that read's "
    "answer minus the previous read's request)")


@dataclass(frozen=True)
class MpiSizes:
    samples: int  # single jobs x 2 workers, one at a time
    burst_jobs: int
    burst_workers: int
    within: float  # seconds a run may take to Succeeded
    warmup: bool = True
    single_poll: float = 0.05  # seconds between reads of a launcher's log
    burst_poll: float = 0.1  # 20 launchers at once: 200 reads/s at most on the node agent


FULL = MpiSizes(samples=3, burst_jobs=20, burst_workers=4, within=600.0)
SMOKE = MpiSizes(samples=1, burst_jobs=2, burst_workers=2, within=120.0, warmup=False)


def pi_manifest(name: str, namespace: str, workers: int) -> JSON:
    """The pi example in `namespace`, with `workers` workers and `mpirun -n <workers>`."""
    doc: JSON = yaml.safe_load(EXAMPLE.read_text())
    doc["metadata"] = {"name": name, "namespace": namespace}
    replicas = doc["spec"]["mpiReplicaSpecs"]
    replicas["Worker"]["replicas"] = workers
    container = replicas["Launcher"]["template"]["spec"]["containers"][0]
    args = list(container["args"])
    assert args[:1] == ["-n"], f"{EXAMPLE}: the launcher's args no longer start with -n: {args}"
    container["args"] = ["-n", str(workers), *args[2:]]
    return copy.deepcopy(doc)


def kubectl() -> str:
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if found is None:
        raise RuntimeError("kubectl not found (make venv installs it into .venv/bin)")
    return found


async def kubectl_apply(kubeconfig: Path, manifest: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    proc = await asyncio.create_subprocess_exec(
        kubectl(), "--kubeconfig", str(kubeconfig), "apply", "-f", str(manifest),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"kubectl apply -f {manifest} failed ({proc.returncode}): {err.decode()}{out.decode()}")


def _spread(values: list[float]) -> JSON:
    """first / median / last over the jobs of a run (None where no job reached the stage)."""
    if not values:
        return {"first": None, "median": None, "last": None}
    return {"first": round(min(values), 3), "median": round(statistics.median(values), 3),
            "last": round(max(values), 3)}


def _job_json(launcher: Launcher, progress: JobProgress | None, t0: float, workers: int) -> JSON:
    stages = progress.at if progress is not None else {}
    out: JSON = {f"seconds_to_{stage}": round(stages[stage] - t0, 3) if stage in stages else None
                 for stage in ("created", "children", "running", "succeeded")}
    out.update(launcher.as_json(t0))
    out["ranks_on_workers"] = sorted(out["rank_hosts"]) == [f"{launcher.job}-worker-{i}" for i in range(workers)]
    return out


async def run_apply(ground: MpiGround, watch: ClusterWatch, launchers: Launchers, namespace: str, jobs: int,
                    workers: int, poll: float, sizes: MpiSizes, alive: Callable[[], None],
                    cpu: Callable[[], dict[str, float]]) -> JSON:
    """`jobs` pi MPIJobs x `workers` in `namespace`, one `kubectl apply`; every stage of every job."""
    await ground.namespace(namespace)
    names = ["pi"] if jobs == 1 else [f"pi-{i}" for i in range(jobs)]
    manifest = ground.directory / f"{namespace}.yaml"
    manifest.write_text(yaml.safe_dump_all([pi_manifest(name, namespace, workers) for name in names]))
    followed = [launchers.follow(namespace, name, poll) for name in names]
    cpu_before = cpu()
    with Progress(watch.listen, namespace, workers) as progress:
        t0 = progress.t0 = time.monotonic()
        await kubectl_apply(ground.admin_kubeconfig, manifest)
        applied = time.monotonic() - t0
        await progress.wait("succeeded", jobs, sizes.within, alive)
        wall = time.monotonic() - t0
        cpu_after = cpu()
        await launchers.wait(followed, sizes.within, alive)
    used = {name: round(cpu_after[name] - cpu_before.get(name, 0.0), 2) for name in cpu_after}
    by_name = {p.name: p for p in progress.jobs.values() if p.name}
    per_job = [_job_json(launcher, by_name.get(launcher.job), t0, workers) for launcher in followed]
    bounds = [b for j in per_job for b in (j["first_rank_bound"], j["all_ranks_bound"]) if b is not None]
    return {
        "namespace": namespace, "jobs": jobs, "workers": workers, "poll_seconds": poll,
        "kubectl_apply_seconds": round(applied, 3),
        **{f"seconds_to_{stage}": _spread([j[f"seconds_to_{stage}"] for j in per_job
                                           if j[f"seconds_to_{stage}"] is not None]) for stage in STAGES},
        "rank_line_bound_max": max(bounds, default=None),
        # To the last Succeeded: the ground's processes, the operator, and every CPU of the machine (`machine`,
        # out of `machine_available`): the pods' own processes (sshd, mpirun, pi) are most of what is left.
        "cpu_seconds": {**used, "machine_available": round(wall * len(os.sched_getaffinity(0)), 2)},
        "launcher_failed_attempts": sum(j["launcher_failed_attempts"] for j in per_job),
        "launcher_job_failed": sum(j["launcher_job_failed"] for j in per_job),
        "launcher_restarts": sum(j["launcher_restarts"] for j in per_job),
        "jobs_with_failed_attempts": sum(1 for j in per_job if j["launcher_failed_attempts"]),
        "jobs_with_pi": sum(1 for j in per_job if j["pi"] is not None),
        "jobs_with_ranks_on_workers": sum(1 for j in per_job if j["ranks_on_workers"]),
        "per_job": per_job,
    }


def _singles(runs: list[JSON]) -> JSON:
    """The single-job samples: each stage's median, min and max over the samples (one job each)."""
    out: JSON = {"samples": len(runs), "workers": SINGLE_WORKERS}
    for stage in STAGES:
        values = [r[f"seconds_to_{stage}"]["first"] for r in runs if r[f"seconds_to_{stage}"]["first"] is not None]
        out[f"seconds_to_{stage}"] = ({"median": statistics.median(values), "min": min(values), "max": max(values)}
                                      if values else None)
    out["launcher_failed_attempts"] = [r["launcher_failed_attempts"] for r in runs]
    out["runs"] = runs
    return out


async def run_ground(name: str, sizes: MpiSizes, concurrency: int, tmp: Path,
                     log: Callable[[str], None]) -> JSON:
    started = time.monotonic()
    log(f"{name}: API server, node agent (process runtime, {NODES} nodes), operator")
    async with MpiGround(name, tmp / name) as ground, ClusterWatch(ground.client) as watch, \
            Launchers(ground.client) as launchers:
        driver = make_driver(OPERATOR, ground.operator_kubeconfig, ground.logs, f"mpi-{name}", concurrency, True)
        await driver.start()

        def alive() -> None:
            driver.check_alive()
            ground.check_alive()

        def cpu() -> dict[str, float]:
            return {**ground.cpu_seconds(), "operator": driver.cpu_seconds(),
                    "benchmark": procfs.cpu_seconds(os.getpid()), "machine": procfs.machine_busy_seconds()}

        try:
            await driver.quiet(0.5)
            out: JSON = {"startup_seconds": round(ground.startup_seconds, 1)}
            if sizes.warmup:
                log(f"{name}: warm-up (not measured): 1 job x {SINGLE_WORKERS} workers")
                warmup = await run_apply(ground, watch, launchers, "mpi-warmup", 1, SINGLE_WORKERS,
                                         sizes.single_poll, sizes, alive, cpu)
                out["warmup"] = {k: v for k, v in warmup.items() if k != "per_job"}
            singles = []
            for i in range(sizes.samples):
                log(f"{name}: 1 job x {SINGLE_WORKERS} workers, sample {i + 1} of {sizes.samples}")
                singles.append(await run_apply(ground, watch, launchers, f"mpi-single-{i}", 1, SINGLE_WORKERS,
                                               sizes.single_poll, sizes, alive, cpu))
            log(f"{name}: {sizes.burst_jobs} jobs x {sizes.burst_workers} workers at once")
            burst = await run_apply(ground, watch, launchers, "mpi-burst", sizes.burst_jobs, sizes.burst_workers,
                                    sizes.burst_poll, sizes, alive, cpu)
        finally:
            await driver.stop()
    out.update(single=_singles(singles), burst=burst, seconds=round(time.monotonic() - started, 1))
    return out


def summary(ground: str, result: JSON) -> JSON:
    """The headline figures of one ground: single-job medians; the burst's first rank of any job and the last
    job's other stages (every job there)."""
    single, burst = result["single"], result["burst"]
    out: JSON = {"summary_ground": ground}
    for stage in STAGES:
        out[f"single_job_seconds_to_{stage}"] = (single[f"seconds_to_{stage}"] or {}).get("median")
    out["single_job_launcher_failed_attempts_per_job"] = (sum(single["launcher_failed_attempts"])
                                                           / max(1, single["samples"]))
    out["burst_jobs"], out["burst_workers"] = burst["jobs"], burst["workers"]
    for stage in STAGES:
        edge = "first" if stage == "first_rank" else "last"
        out[f"burst_seconds_to_{stage}"] = burst[f"seconds_to_{stage}"][edge]
    out["burst_launcher_failed_attempts_per_job"] = burst["launcher_failed_attempts"] / burst["jobs"]
    return out


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing(grounds: tuple[str, ...]) -> str | None:
    """Why the MPI target cannot run here: no process runtime (not root, no namespaces, packages missing); under
    CI=true also no real control plane, which elsewhere only skips that ground (loudly)."""
    if (reason := unavailable_reason()) is not None:
        return f"the process runtime cannot run here ({reason})"
    if REAL in grounds and under_ci():
        try:
            locate()
        except Unavailable as e:
            return f"the real control plane cannot run here ({e})"
    return None


async def run(sizes: MpiSizes, grounds: tuple[str, ...], concurrency: int, tmp: Path, mode: str,
              log: Callable[[str], None] = print) -> JSON:
    """Every ground that can run here; `meta.skipped` says why one could not (the real one without Go)."""
    started = time.monotonic()
    meta: JSON = {"target": "mpi", "mode": mode, "load_average_at_start": procfs.load_average(),
                  "cpus": len(os.sched_getaffinity(0)), "node_agent_runtime": "process", "nodes": NODES,
                  "concurrency": concurrency, "example": str(EXAMPLE.relative_to(EXAMPLE.parents[2])),
                  "first_rank_how": HOW_FIRST_RANK, "skipped": {}}
    results: dict[str, JSON] = {}
    for name in grounds:
        if name == REAL:
            try:
                await asyncio.to_thread(locate)
            except Unavailable as e:
                log(f"!!! {name}: the real control plane cannot run here: {e}")
                meta["skipped"][name] = str(e)
                continue
        results[name] = await run_ground(name, sizes, concurrency, tmp, log)
    meta["load_average_at_end"] = procfs.load_average()
    meta["seconds"] = round(time.monotonic() - started, 1)
    headline = next((g for g in GROUNDS if g in results), None)
    return {**(summary(headline, results[headline]) if headline else {}), "meta": meta, "grounds": results}
