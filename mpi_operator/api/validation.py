"""Semantic validation of a defaulted MPIJob: upstream's rules (behaviour spec §1.10) in upstream's order,
plus our decisions (Q3 managedBy, Q7 launcherCreationPolicy, Q28 minAvailable).

Invariant: validation never raises and never mutates; it returns every problem as a FieldError, so the
controller can report all of them at once (Event and Valid condition) and `mpi-operator validate` can list them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from mpi_operator.api.constants import (
    MANAGED_BY_MULTIKUEUE,
    RESERVED_MANAGED_BY,
    SUPPORTED_RESTART_POLICIES,
    CleanPodPolicy,
    LauncherCreationPolicy,
    MPIImplementation,
    ReplicaType,
)
from mpi_operator.api.defaults import apply_defaults
from mpi_operator.api.field_errors import (
    ErrorType,
    FieldError,
    aggregate,
    truncate_message,
    unique_texts,
)
from mpi_operator.api.parsing import parse_mpijob
from mpi_operator.api.types import MPIJob, ReplicaSpec, RunPolicy

__all__ = [
    "ErrorType",
    "FieldError",
    "aggregate",
    "dns1035_label_errors",
    "is_managed_externally",
    "parse_mpijob",
    "truncate_message",
    "unique_texts",
    "validate_document",
    "validate_mpijob",
    "validation_message",
]

VALIDATION_MESSAGE_PREFIX = "Found validation errors: "

NEGATIVE_DETAIL = "must be greater than or equal to 0"  # apimachinery's IsNegativeErrorMsg

DNS1035_LABEL_MAX_LENGTH = 63
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL = re.compile(f"^{_DNS1035_LABEL_FMT}$")
_DNS1035_LABEL_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    f"validation is '{_DNS1035_LABEL_FMT}')"
)


def dns1035_label_errors(value: str) -> list[str]:
    """apimachinery's IsDNS1035Label (v0.32): the reasons `value` is not a DNS-1035 label, or none."""
    errors = []
    if len(value) > DNS1035_LABEL_MAX_LENGTH:
        errors.append(f"must be no more than {DNS1035_LABEL_MAX_LENGTH} characters")
    if not _DNS1035_LABEL.match(value):
        errors.append(_DNS1035_LABEL_MESSAGE)
    return errors


def validate_mpijob(job: MPIJob) -> list[FieldError]:
    """Every problem of a (defaulted) MPIJob, in upstream's order; empty when the job is valid."""
    errors = _validate_name(job)
    spec = job.spec
    errors += _validate_replica_specs(spec.mpi_replica_specs, "spec.mpiReplicaSpecs")
    if spec.slots_per_worker is None:
        errors.append(FieldError.required("spec.slotsPerWorker", "must have number of slots per worker"))
    else:
        errors += _non_negative(spec.slots_per_worker, "spec.slotsPerWorker")
    errors += _validate_run_policy(spec.run_policy or RunPolicy(), "spec.runPolicy", _pod_count(job))
    if not spec.ssh_auth_mount_path:
        errors.append(FieldError.required("spec.sshAuthMountPath", "must have a mount path for SSH credentials"))
    errors += _enum_member(spec.mpi_implementation, "spec.mpiImplementation", MPIImplementation)
    # Decision Q7: upstream's enum marker is malformed, so it validates nothing here.
    errors += _enum_member(spec.launcher_creation_policy, "spec.launcherCreationPolicy", LauncherCreationPolicy)
    return errors


def validation_message(errors: Sequence[FieldError]) -> str:
    """The Event/condition message for an invalid job: `Found validation errors: <aggregate>`, ≤ 1024 bytes."""
    return truncate_message(VALIDATION_MESSAGE_PREFIX + aggregate(errors))


def is_managed_externally(job: MPIJob) -> bool:
    """True when MultiKueue owns the job: this operator must then make no API writes for it (Q3)."""
    return job.spec.run_policy is not None and job.spec.run_policy.managed_by == MANAGED_BY_MULTIKUEUE


def validate_document(doc: Any) -> tuple[MPIJob | None, list[FieldError]]:
    """Parse, default and validate one MPIJob document; returns the defaulted job (None if unparsable)."""
    job, errors = parse_mpijob(doc)
    if job is None or errors:
        return job, errors
    defaulted = apply_defaults(job)
    return defaulted, validate_mpijob(defaulted)


def _validate_name(job: MPIJob) -> list[FieldError]:
    # The highest-indexed worker pod's host name must be a DNS label, or its pod and Service record fail.
    replicas = 1
    worker = (job.spec.mpi_replica_specs or {}).get(ReplicaType.WORKER.value)
    if worker is not None and worker.replicas is not None and worker.replicas > 0:
        replicas = worker.replicas
    host = f"{job.name}-worker-{replicas - 1}"
    reasons = dns1035_label_errors(host)
    if not reasons:
        return []
    detail = f'will not able to create pod and service with invalid DNS label "{host}": {", ".join(reasons)}'
    return [FieldError.invalid("metadata.name", job.metadata.get("name", ""), detail)]


def _validate_replica_specs(specs: dict[str, ReplicaSpec] | None, path: str) -> list[FieldError]:
    if specs is None:
        return [FieldError.required(path, "must have replica specs")]
    errors: list[FieldError] = []
    launcher_path = f"{path}[{ReplicaType.LAUNCHER.value}]"
    launcher = specs.get(ReplicaType.LAUNCHER.value)
    if launcher is None:
        errors.append(FieldError.required(launcher_path, "must have Launcher replica spec"))
    else:
        errors += _validate_replica(launcher, launcher_path)
        if launcher.replicas is not None and launcher.replicas != 1:
            errors.append(FieldError.invalid(f"{launcher_path}.replicas", launcher.replicas, "must be 1"))
    worker = specs.get(ReplicaType.WORKER.value)
    if worker is not None:  # a launcher-only job is valid
        worker_path = f"{path}[{ReplicaType.WORKER.value}]"
        errors += _validate_replica(worker, worker_path)
        if worker.replicas is not None and worker.replicas <= 0:
            errors.append(FieldError.invalid(f"{worker_path}.replicas", worker.replicas,
                                             "must be greater than or equal to 1"))
    return errors


def _validate_replica(spec: ReplicaSpec, path: str) -> list[FieldError]:
    errors = []
    if spec.replicas is None:
        errors.append(FieldError.required(f"{path}.replicas", "must define number of replicas"))
    # Decision Q6: a launcher Job and worker pods can only take Never or OnFailure.
    if spec.restart_policy not in SUPPORTED_RESTART_POLICIES:
        errors.append(FieldError.not_supported(f"{path}.restartPolicy", spec.restart_policy or "",
                                               SUPPORTED_RESTART_POLICIES))
    if not _containers(spec.template):
        errors.append(FieldError.required(f"{path}.template.spec.containers", "must define at least one container"))
    return errors


def _containers(template: dict[str, Any]) -> list[Any]:
    pod_spec = template.get("spec")
    containers = pod_spec.get("containers") if isinstance(pod_spec, dict) else None
    return containers if isinstance(containers, list) else []


def _validate_run_policy(policy: RunPolicy, path: str, pod_count: int) -> list[FieldError]:
    errors = []
    if policy.clean_pod_policy is None:
        errors.append(FieldError.required(f"{path}.cleanPodPolicy", "must have clean Pod policy"))
    else:
        errors += _enum_member(policy.clean_pod_policy, f"{path}.cleanPodPolicy", CleanPodPolicy)
    errors += _non_negative(policy.ttl_seconds_after_finished, f"{path}.ttlSecondsAfterFinished")
    errors += _non_negative(policy.active_deadline_seconds, f"{path}.activeDeadlineSeconds")
    errors += _non_negative(policy.backoff_limit, f"{path}.backoffLimit")
    # Decision Q3: unset and "" mean "this operator"; any other unknown value is reported, not skipped.
    if policy.managed_by and policy.managed_by not in RESERVED_MANAGED_BY:
        errors.append(FieldError.not_supported(f"{path}.managedBy", policy.managed_by, RESERVED_MANAGED_BY))
    if policy.scheduling_policy is not None:
        errors += _validate_min_available(policy.scheduling_policy.min_available,
                                          f"{path}.schedulingPolicy.minAvailable", pod_count)
    return errors


def _validate_min_available(value: int | None, path: str, pod_count: int) -> list[FieldError]:
    # Decision Q28: upstream accepts these and then sizes (or crashes on) an impossible gang.
    if value is None:
        return []
    if value < 0:
        return [FieldError.invalid(path, value, NEGATIVE_DETAIL)]
    if value > pod_count:
        detail = f"must be less than or equal to {pod_count}, the job's pod count (workers + launcher)"
        return [FieldError.invalid(path, value, detail)]
    return []


def _pod_count(job: MPIJob) -> int:
    worker = (job.spec.mpi_replica_specs or {}).get(ReplicaType.WORKER.value)
    workers = worker.replicas if worker is not None and worker.replicas is not None else 0
    return max(workers, 0) + 1


def _non_negative(value: int | None, path: str) -> list[FieldError]:
    if value is not None and value < 0:
        return [FieldError.invalid(path, value, NEGATIVE_DETAIL)]
    return []


def _enum_member(value: str | None, path: str, allowed: type[StrEnum]) -> list[FieldError]:
    supported = [member.value for member in allowed]
    if value in supported:
        return []
    return [FieldError.not_supported(path, value or "", supported)]
