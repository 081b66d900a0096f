"""Controller defaulting of an MPIJob (upstream SetDefaults_MPIJob, adjusted by docs/decisions.md Q4 and Q5).

Invariant: `apply_defaults` never mutates its argument and only fills values that are unset (None, or
"" for plain string fields); it is idempotent. The result is used in memory and never written to spec.
"""

from __future__ import annotations

from mpi_operator.api.constants import (
    DEFAULT_SLOTS_PER_WORKER,
    DEFAULT_SSH_AUTH_MOUNT_PATH,
    CleanPodPolicy,
    LauncherCreationPolicy,
    MPIImplementation,
    ReplicaType,
    RestartPolicy,
)
from mpi_operator.api.types import MPIJob, ReplicaSpec, RunPolicy

# Decision Q4: finished jobs release their sshd workers (upstream defaults to None).
DEFAULT_CLEAN_POD_POLICY = CleanPodPolicy.RUNNING
DEFAULT_LAUNCHER_REPLICAS = 1
# Decision Q5: the documented default (upstream defaults to 0, which validation then rejects).
DEFAULT_WORKER_REPLICAS = 1
DEFAULT_RESTART_POLICIES = {
    ReplicaType.LAUNCHER: RestartPolicy.ON_FAILURE,
    ReplicaType.WORKER: RestartPolicy.NEVER,
}
DEFAULT_REPLICAS = {
    ReplicaType.LAUNCHER: DEFAULT_LAUNCHER_REPLICAS,
    ReplicaType.WORKER: DEFAULT_WORKER_REPLICAS,
}


def apply_defaults(job: MPIJob) -> MPIJob:
    """A deep copy of `job` with every controller default filled in."""
    out = job.model_copy(deep=True)
    spec = out.spec
    if spec.slots_per_worker is None:
        spec.slots_per_worker = DEFAULT_SLOTS_PER_WORKER
    if not spec.ssh_auth_mount_path:
        spec.ssh_auth_mount_path = DEFAULT_SSH_AUTH_MOUNT_PATH
    if not spec.mpi_implementation:
        spec.mpi_implementation = MPIImplementation.OPENMPI.value
    if not spec.launcher_creation_policy:
        spec.launcher_creation_policy = LauncherCreationPolicy.AT_STARTUP.value
    if spec.run_policy is None:
        spec.run_policy = RunPolicy()
    # A pointer upstream: only null is defaulted; an explicit "" stays and fails validation.
    if spec.run_policy.clean_pod_policy is None:
        spec.run_policy.clean_pod_policy = DEFAULT_CLEAN_POD_POLICY.value
    for replica_type in ReplicaType:
        replica = (spec.mpi_replica_specs or {}).get(replica_type.value)
        if replica is not None:
            _default_replica(replica, replica_type)
    return out


def _default_replica(replica: ReplicaSpec, replica_type: ReplicaType) -> None:
    if replica.replicas is None:
        replica.replicas = DEFAULT_REPLICAS[replica_type]
    if not replica.restart_policy:
        replica.restart_policy = DEFAULT_RESTART_POLICIES[replica_type].value
