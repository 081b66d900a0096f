"""Read-only views of a defaulted MPIJob spec that the builders share.

Invariant: the job has been defaulted (mpi_operator.api.defaults); missing optional parts still read as
upstream's zero values, never raise.
"""

from __future__ import annotations

from typing import Any

from mpi_operator.api.constants import (
    CleanPodPolicy,
    LauncherCreationPolicy,
    MPIImplementation,
    ReplicaType,
    RestartPolicy,
)
from mpi_operator.api.types import MPIJob, ReplicaSpec, RunPolicy, SchedulingPolicy


def replica_spec(job: MPIJob, replica_type: str) -> ReplicaSpec | None:
    return (job.spec.mpi_replica_specs or {}).get(replica_type)


def launcher_spec(job: MPIJob) -> ReplicaSpec | None:
    return replica_spec(job, ReplicaType.LAUNCHER)


def worker_spec(job: MPIJob) -> ReplicaSpec | None:
    return replica_spec(job, ReplicaType.WORKER)


def worker_replicas(job: MPIJob) -> int:
    """Worker replicas, 0 when there is no Worker spec."""
    spec = worker_spec(job)
    return (spec.replicas or 0) if spec is not None else 0


def run_policy(job: MPIJob) -> RunPolicy:
    return job.spec.run_policy or RunPolicy()


def scheduling_policy(job: MPIJob) -> SchedulingPolicy | None:
    return run_policy(job).scheduling_policy


def is_suspended(job: MPIJob) -> bool:
    return bool(run_policy(job).suspend)


def run_launcher_as_worker(job: MPIJob) -> bool:
    return bool(job.spec.run_launcher_as_worker)


def slots_per_worker(job: MPIJob) -> int:
    return job.spec.slots_per_worker if job.spec.slots_per_worker is not None else 1


def mpi_implementation(job: MPIJob) -> str:
    return job.spec.mpi_implementation or MPIImplementation.OPENMPI


def ssh_auth_mount_path(job: MPIJob) -> str:
    return job.spec.ssh_auth_mount_path or "/root/.ssh"


def clean_pod_policy(job: MPIJob) -> str:
    # docs/decisions.md Q4: Running, not upstream's None, when unset.
    return run_policy(job).clean_pod_policy or CleanPodPolicy.RUNNING


def waits_for_workers_ready(job: MPIJob) -> bool:
    return job.spec.launcher_creation_policy == LauncherCreationPolicy.WAIT_FOR_WORKERS_READY


def pod_restart_policy(spec: ReplicaSpec) -> str:
    """A replica spec's restartPolicy as a pod/Job takes it (`ExitCode` maps to `Never`)."""
    policy = spec.restart_policy or RestartPolicy.NEVER
    return RestartPolicy.NEVER.value if policy == RestartPolicy.EXIT_CODE else str(policy)


def template_of(spec: ReplicaSpec | None) -> dict[str, Any]:
    return spec.template if spec is not None else {}
