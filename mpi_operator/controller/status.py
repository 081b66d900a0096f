"""The MPIJob status computed from what the controller observed: conditions, replicaStatuses, startTime
and completionTime (§5, docs/decisions.md Q16-Q22).

Invariant: pure; returns the new status and the transitions (Events, counters) that the reconciler emits
only after the status write that records them has succeeded, so a retried write never counts twice.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from mpi_operator.api.constants import ConditionStatus, JobConditionType, ReplicaType
from mpi_operator.api.field_errors import truncate_message
from mpi_operator.api.types import MPIJob
from mpi_operator.controller import conditions, names, spec
from mpi_operator.controller.launcher import is_launcher_failed, is_launcher_succeeded
from mpi_operator.controller.worker import pod_phase
from mpi_operator.kube.meta import JSON, is_controlled_by

TRUE, FALSE = ConditionStatus.TRUE.value, ConditionStatus.FALSE.value

REASON_CREATED = "MPIJobCreated"
REASON_SUCCEEDED = "MPIJobSucceeded"
REASON_RUNNING = "MPIJobRunning"
REASON_SUSPENDED = "MPIJobSuspended"
REASON_RESUMED = "MPIJobResumed"
REASON_FAILED = "MPIJobFailed"
REASON_EVICTED = "MPIJobEvicted"
BACKOFF_LIMIT_EXCEEDED = "BackoffLimitExceeded"
EVICTED_POD_REASON = "Evicted"


class Metric(StrEnum):
    """Counters incremented with a transition (upstream names)."""

    CREATED = "mpi_operator_jobs_created_total"
    SUCCESSFUL = "mpi_operator_jobs_successful_total"
    FAILED = "mpi_operator_jobs_failed_total"


@dataclass(frozen=True)
class Transition:
    """One Event on the MPIJob (type Normal/Warning) and optionally one counter to increment."""

    event_type: str
    reason: str
    message: str
    metric: Metric | None = None


@dataclass
class StatusUpdate:
    """`status`: the complete new status (JSON). `launcher_seen`: set `mpi_operator_job_info` to 1."""

    status: JSON
    transitions: list[Transition] = field(default_factory=list)
    launcher_seen: bool = False


def launcher_pods_of(launcher: JSON, pods: Iterable[JSON]) -> list[JSON]:
    """Pods selected by the Job's selector (matchLabels) and controlled by the Job."""
    uid = str((launcher.get("metadata") or {}).get("uid") or "")
    selector = ((launcher.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return [pod for pod in pods if names.labels_match(pod, selector) and is_controlled_by(pod, uid)]


def launcher_failure(job: MPIJob, launcher: JSON, launcher_pods: Sequence[JSON]) -> tuple[str, str]:
    """§5.5 reason and message; BackoffLimitExceeded gets the newest failed pod's reason and message,
    each only when non-empty (docs/decisions.md Q22)."""
    failed: JSON = next(
        (c for c in (launcher.get("status") or {}).get("conditions") or [] if c.get("type") == "Failed"), {}
    )
    reason = failed.get("reason") or REASON_FAILED
    message = failed.get("message") or f"MPIJob {job.namespace}/{job.name} has failed"
    if reason == BACKOFF_LIMIT_EXCEEDED:
        newest: JSON | None = None
        for pod in launcher_pods:
            if pod_phase(pod) != "Failed":
                continue
            created = str((pod.get("metadata") or {}).get("creationTimestamp") or "")
            if newest is None or created > str(newest["metadata"].get("creationTimestamp") or ""):
                newest = pod
        if newest is not None:
            pod_status = newest.get("status") or {}
            if pod_status.get("reason"):
                reason += "/" + pod_status["reason"]
            if pod_status.get("message"):
                message += ": " + pod_status["message"]
            message = truncate_message(message)
    return reason, message


def _counts(**values: int) -> JSON:
    # Zero values are omitted, as Go's omitempty does: an all-zero ReplicaStatus is `{}`.
    return {key: value for key, value in values.items() if value}


def compute_status(
    job: MPIJob,
    launcher: JSON | None,
    launcher_pods: Sequence[JSON],
    workers: Sequence[JSON],
    now: str,
) -> StatusUpdate:
    """The new status of a defaulted, valid, not-yet-finished MPIJob after one sync.

    `launcher`: the launcher Job or None; `launcher_pods`: cached pods that may belong to it (filtered
    here by its selector and controller reference); `workers`: this sync's worker list (empty when
    suspended, when the launcher is done or without a Worker spec); `now`: RFC3339 UTC.
    """
    status: JSON = copy.deepcopy(job.status.to_dict()) if job.status is not None else {}
    update = StatusUpdate(status=status, launcher_seen=launcher is not None)
    emit = update.transitions.append
    ns_name = f"{job.namespace}/{job.name}"
    suspended = spec.is_suspended(job)
    _created_and_suspension(status, ns_name, suspended, now, emit)
    running_launchers = 0 if launcher is None else _launcher_result(job, launcher, launcher_pods, status, now, emit)
    running_workers = _worker_result(workers, status, now, emit)

    if suspended:
        conditions.set_condition(
            status, JobConditionType.RUNNING, FALSE, REASON_SUSPENDED, f"MPIJob {ns_name} is suspended.", now
        )
    elif (
        not conditions.is_finished(status)
        and launcher is not None
        and running_launchers >= 1
        and running_workers == len(workers)
    ):
        was_running = conditions.is_condition_true(status, JobConditionType.RUNNING)
        conditions.set_condition(
            status, JobConditionType.RUNNING, TRUE, REASON_RUNNING, f"MPIJob {ns_name} is running.", now
        )
        if not was_running:  # docs/decisions.md Q18: on the transition only
            emit(Transition("Normal", REASON_RUNNING, f"MPIJob {ns_name} is running"))

    if conditions.is_finished(status) and conditions.get_condition(status, JobConditionType.RUNNING) is None:
        when = status.get("completionTime") or now
        never = conditions.new_condition(
            JobConditionType.RUNNING, FALSE, REASON_RUNNING,
            f"MPIJob {ns_name} is finished but Running condition was never set.", when,
        )
        status["conditions"] = [*status["conditions"], never]
    return update


def _created_and_suspension(status: JSON, ns_name: str, suspended: bool, now: str,
                            emit: Callable[[Transition], None]) -> None:
    """Created once; startTime once running is allowed; Suspended while suspended, False (Resumed) after."""
    # Upstream tests "no conditions at all"; ours may carry a validation condition first (docs/decisions.md Q2).
    if conditions.get_condition(status, JobConditionType.CREATED) is None:
        message = f"MPIJob {ns_name} is created."
        conditions.set_condition(status, JobConditionType.CREATED, TRUE, REASON_CREATED, message, now)
        emit(Transition("Normal", REASON_CREATED, message, Metric.CREATED))
    if not status.get("startTime") and not suspended:
        status["startTime"] = now

    if suspended:
        if conditions.set_condition(
            status, JobConditionType.SUSPENDED, TRUE, REASON_SUSPENDED, "MPIJob suspended", now
        ):
            emit(Transition("Normal", REASON_SUSPENDED, "MPIJob suspended"))
    elif conditions.get_condition(status, JobConditionType.SUSPENDED) is not None and conditions.set_condition(
        status, JobConditionType.SUSPENDED, FALSE, REASON_RESUMED, "MPIJob resumed", now
    ):
        emit(Transition("Normal", REASON_RESUMED, "MPIJob resumed"))
        status["startTime"] = now


def _launcher_result(job: MPIJob, launcher: JSON, launcher_pods: Sequence[JSON], status: JSON, now: str,
                     emit: Callable[[Transition], None]) -> int:
    """The Launcher replica status and the job's result from the launcher Job; returns its Running pods."""
    replica_statuses: JSON = status.setdefault("replicaStatuses", {})
    pods = launcher_pods_of(launcher, launcher_pods)
    running = sum(1 for pod in pods if pod_phase(pod) == "Running")
    failed = int((launcher.get("status") or {}).get("failed") or 0)
    if is_launcher_succeeded(launcher):
        replica_statuses[ReplicaType.LAUNCHER.value] = _counts(succeeded=1, failed=failed)
        _succeed(job, launcher, status, now, emit)
    elif is_launcher_failed(launcher):
        replica_statuses[ReplicaType.LAUNCHER.value] = _counts(failed=failed)
        _fail(status, *launcher_failure(job, launcher, pods), now, emit)
    else:
        replica_statuses[ReplicaType.LAUNCHER.value] = _counts(active=running, failed=failed)
    return running


def _worker_result(workers: Sequence[JSON], status: JSON, now: str, emit: Callable[[Transition], None]) -> int:
    """The Worker replica status; an evicted worker fails the job. Returns the Running workers."""
    phases = [pod_phase(pod) for pod in workers]
    status.setdefault("replicaStatuses", {})[ReplicaType.WORKER.value] = _counts(
        active=phases.count("Running"), succeeded=phases.count("Succeeded"), failed=phases.count("Failed")
    )
    evicted = sum(
        1 for pod in workers
        if pod_phase(pod) == "Failed" and (pod.get("status") or {}).get("reason") == EVICTED_POD_REASON
    )
    if evicted:
        # docs/decisions.md Q21: eviction is terminal, with completionTime and the failed counter.
        _fail(status, REASON_EVICTED, f"{evicted}/{len(workers)} workers are evicted", now, emit)
    return phases.count("Running")


def _succeed(job: MPIJob, launcher: JSON, status: JSON, now: str, emit: Callable[[Transition], None]) -> None:
    # docs/decisions.md Q21: a job already failed for good (eviction) never turns into Succeeded.
    if conditions.is_failed(status) and status.get("completionTime"):
        return
    was_succeeded = conditions.is_succeeded(status)
    if not status.get("completionTime"):
        # A Complete Job without completionTime would otherwise never reach the finished path (Q17).
        status["completionTime"] = (launcher.get("status") or {}).get("completionTime") or now
    message = f"MPIJob {job.namespace}/{job.name} successfully completed."
    conditions.set_condition(status, JobConditionType.SUCCEEDED, TRUE, REASON_SUCCEEDED, message, now)
    if not was_succeeded:
        emit(Transition("Normal", REASON_SUCCEEDED, message, Metric.SUCCESSFUL))


def _fail(status: JSON, reason: str, message: str, now: str, emit: Callable[[Transition], None]) -> None:
    was_failed = conditions.is_failed(status)
    if not status.get("completionTime"):
        status["completionTime"] = now
    conditions.set_condition(status, JobConditionType.FAILED, TRUE, reason, message, now)
    if not was_failed:
        emit(Transition("Warning", reason, message, Metric.FAILED))


def status_after_cleanup(status: JSON) -> JSON:
    """The status after cleanUpWorkers: Worker replica status reset to `{}` (a copy; input untouched)."""
    result = copy.deepcopy(status)
    result.setdefault("replicaStatuses", {})[ReplicaType.WORKER.value] = {}
    return result
