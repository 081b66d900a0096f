"""One chaos run: MPIJobs created over a window while two operator replicas (leader election) run against a
faulty sandbox and the leader is SIGKILLed at random moments and restarted; then every invariant is checked.

The simulated kubelet and Job controller run the pods: workers run until deleted, each launcher exits after
`run-seconds` with its `exit-code` (backoffLimit 0, so a non-zero code fails the job).
Faults (HTTP only; the simulators write in-process): 10 % of writes answered 500, 5 % 429 with
Retry-After, every watch cut after 2 s in the middle of an event line, every resumed watch answered 410 (so
each cut costs a relist).
The seed (CHAOS_SEED to replay) decides the workload, the kill moments and the fault draws.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpi_operator.sandbox import Sandbox
from mpi_operator.sandbox.apiserver.faults import Faults
from mpi_operator.sandbox.cluster import Cluster, KubeletOptions
from mpi_operator.sandbox.cluster.annotations import EXIT_CODE, RUN_SECONDS
from tests.chaos.invariants import (
    MPIJOBS,
    Expected,
    StatusHistory,
    children_problems,
    events_per_job,
    outcome_problems,
)
from tests.chaos.operator_process import FAST_FLAGS, SHORT_LEASE_FLAGS, OperatorProcess

NAMESPACE = "chaos"
MAX_EVENTS_PER_JOB = 20
IMAGE = "mpioperator/mpi-pi:openmpi"
NODE = KubeletOptions(schedule_delay=0.0, start_delay=0.05, restart_delay=0.05)


@dataclass
class ChaosPlan:
    jobs: int
    kills: int
    create_over: float   # seconds over which the jobs are created (kills land in and just after it)
    within: float        # seconds for every job to reach its terminal state
    seed: int = field(default_factory=lambda: int(os.environ.get("CHAOS_SEED") or random.randrange(1 << 30)))

    def faults(self) -> Faults:
        return Faults.parse(f"error=0.1,error_code=500,throttle=0.05,retry_after=1,watch_cut=2,watch_cut_midline=1,"
                            f"expire_watches=1,verbs=create|update|patch|delete,seed={self.seed}")


@dataclass
class ChaosReport:
    seed: int
    jobs: list[Expected]
    kills: list[float] = field(default_factory=list)   # seconds after start
    seconds_to_terminal: float = 0.0
    status_versions: int = 0
    max_events_per_job: int = 0
    requests: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        outcomes = Counter(job.outcome for job in self.jobs)
        return (f"chaos seed={self.seed} jobs={len(self.jobs)} {dict(outcomes)} kills at {self.kills}s "
                f"terminal after {self.seconds_to_terminal}s status versions={self.status_versions} "
                f"max events/job={self.max_events_per_job} requests={self.requests}")


def mpijob(job: Expected, run_seconds: float) -> dict[str, Any]:
    exit_code = "0" if job.outcome == "Succeeded" else "1"
    return {
        "apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": job.name},
        "spec": {"slotsPerWorker": 1, "runPolicy": {"cleanPodPolicy": job.clean_pod_policy, "backoffLimit": 0},
                 "mpiReplicaSpecs": {
                     "Launcher": {"replicas": 1, "template": {
                         "metadata": {"annotations": {EXIT_CODE: exit_code, RUN_SECONDS: f"{run_seconds:.2f}"}},
                         "spec": {"containers": [{"name": "launcher", "image": IMAGE,
                                                  "command": ["mpirun", "/home/mpiuser/pi"]}]}}},
                     "Worker": {"replicas": job.workers, "template": {
                         "spec": {"containers": [{"name": "worker", "image": IMAGE,
                                                  "command": ["/usr/sbin/sshd", "-De"]}]}}}}},
    }


def workload(rng: random.Random, count: int) -> list[Expected]:
    return [Expected(f"job-{i}", rng.randint(1, 3), rng.choice(["None", "Running", "All"]),
                     "Failed" if rng.random() < 0.3 else "Succeeded") for i in range(count)]


async def eventually(check: Callable[[], Awaitable[list[str]] | list[str]], within: float) -> list[str]:
    """Poll until `check` returns no problems; the last problems on timeout."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        problems = await result if not isinstance(result, list) else result
        if not problems or time.monotonic() > deadline:
            return problems
        await asyncio.sleep(0.2)


async def find_leader(replicas: list[OperatorProcess], within: float) -> OperatorProcess | None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for replica in replicas:
            if await replica.is_leader():
                return replica
        await asyncio.sleep(0.2)
    return None


def log_tails(replicas: list[OperatorProcess], lines: int = 40) -> str:
    tails = [f"=== {r.log_path.name}\n" + "\n".join(r.log_text().splitlines()[-lines:]) for r in replicas]
    return f"(logs in {replicas[0].log_path.parent})\n" + "\n".join(tails)


async def run_chaos(plan: ChaosPlan, workdir: Path) -> ChaosReport:
    rng = random.Random(plan.seed)
    print(f"chaos seed={plan.seed} (CHAOS_SEED replays the workload and fault draws)")
    report = ChaosReport(plan.seed, workload(rng, plan.jobs))
    kubeconfig = workdir / "kubeconfig"
    flags = (*FAST_FLAGS, *SHORT_LEASE_FLAGS)
    replicas = [OperatorProcess(kubeconfig, workdir / f"operator-{i}.log", *flags) for i in range(2)]
    async with Sandbox(kubeconfig_path=kubeconfig, faults=plan.faults()) as sb, Cluster(sb.store, kubelet=NODE):
        history = StatusHistory(sb.store)
        sb.store.create("namespaces", None, {"metadata": {"name": NAMESPACE}})
        try:
            for replica in replicas:
                await replica.start()
            assert await find_leader(replicas, 30) is not None, "no leader elected\n" + log_tails(replicas)
            started = time.monotonic()

            async def create_jobs() -> None:
                gap = plan.create_over / max(len(report.jobs), 1)
                for job in report.jobs:
                    sb.store.create(MPIJOBS, NAMESPACE, mpijob(job, rng.uniform(0.2, 3.0)))
                    await asyncio.sleep(gap)

            async def kill_leaders() -> None:
                moments = sorted(rng.uniform(0.5, plan.create_over + 5) for _ in range(plan.kills))
                for moment in moments:
                    await asyncio.sleep(max(0.0, started + moment - time.monotonic()))
                    leader = await find_leader(replicas, 20)
                    assert leader is not None, "no leader to kill\n" + log_tails(replicas)
                    await leader.kill()
                    report.kills.append(round(time.monotonic() - started, 1))
                    await leader.start()  # back as a follower of the surviving replica

            await asyncio.gather(create_jobs(), kill_leaders())
            problems = await eventually(lambda: outcome_problems(sb.store, NAMESPACE, report.jobs), plan.within)
            assert not problems, "\n".join(problems[:20]) + "\n" + log_tails(replicas)
            report.seconds_to_terminal = round(time.monotonic() - started, 1)
            problems = await eventually(lambda: children_problems(sb.store, NAMESPACE, report.jobs), 30)
            assert not problems, "\n".join(problems[:20]) + "\n" + log_tails(replicas)
            assert not history.regressions, "\n".join(history.regressions[:20])
            per_job = events_per_job(sb.store, NAMESPACE)
            report.max_events_per_job = max(per_job.values(), default=0)
            flooded = {name: n for name, n in per_job.items() if n > MAX_EVENTS_PER_JOB}
            assert not flooded, f"Events flooded: {flooded}"
            for replica in replicas:
                assert replica.alive and await replica.healthy(), f"{replica.log_path.name} is down\n" + \
                    log_tails([replica])
                assert "Traceback" not in replica.log_text(), f"{replica.log_path.name} logged a traceback"
            report.status_versions = sum(history.versions.values())
            report.requests = sb.requests.by_verb()
        finally:
            history.close()
            for replica in replicas:
                await replica.kill()
    return report
