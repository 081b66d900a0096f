"""MPIJob status conditions: get, test and set with upstream's rules plus docs/decisions.md Q19.

Invariant: a condition's lastTransitionTime changes only when its status changes; setting Succeeded or
Failed forces every other Running/Failed condition to False (reason, message and times untouched, Q20);
a changed condition moves to the end of the list.
"""

from __future__ import annotations

from mpi_operator.api.constants import ConditionStatus, JobConditionType
from mpi_operator.kube.meta import JSON

_TERMINAL = (JobConditionType.SUCCEEDED, JobConditionType.FAILED)


def get_condition(status: JSON, condition_type: str) -> JSON | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == condition_type:
            found: JSON = condition
            return found
    return None


def is_condition_true(status: JSON, condition_type: str) -> bool:
    condition = get_condition(status, condition_type)
    return condition is not None and condition.get("status") == ConditionStatus.TRUE


def is_succeeded(status: JSON) -> bool:
    return is_condition_true(status, JobConditionType.SUCCEEDED)


def is_failed(status: JSON) -> bool:
    return is_condition_true(status, JobConditionType.FAILED)


# The State column's precedence: an end beats everything, a held or broken spec beats a running pod.
_STATE_ORDER = (JobConditionType.FAILED, JobConditionType.SUCCEEDED, JobConditionType.VALIDATION_FAILED,
                JobConditionType.SUSPENDED, JobConditionType.RESTARTING, JobConditionType.RUNNING,
                JobConditionType.CREATED)


def job_state(status: JSON) -> str | None:
    """What the job is doing now, from its conditions' status (not from the last condition appended:
    a suspended job's last condition may be a Running=False)."""
    return next((str(t) for t in _STATE_ORDER if is_condition_true(status, t)), None)


def with_state(status: JSON) -> JSON:
    """`status` with `state` set from its conditions (removed when no condition is True)."""
    out = {k: v for k, v in status.items() if k != "state"}
    state = job_state(out)
    if state is not None:
        out["state"] = state
    return out


def is_finished(status: JSON) -> bool:
    """Succeeded=True or Failed=True."""
    return is_succeeded(status) or is_failed(status)


def new_condition(condition_type: str, status: str, reason: str, message: str, now: str) -> JSON:
    return {
        "type": condition_type,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
    }


def _filter_out(conditions: list[JSON], condition_type: str) -> list[JSON]:
    kept: list[JSON] = []
    for condition in conditions:
        other = condition.get("type")
        if other == condition_type:
            continue
        # Running and Restarting exclude each other.
        if {condition_type, other} == {JobConditionType.RUNNING, JobConditionType.RESTARTING}:
            continue
        if condition_type in _TERMINAL and other in (JobConditionType.RUNNING, JobConditionType.FAILED):
            condition = {**condition, "status": ConditionStatus.FALSE.value}
        kept.append(condition)
    return kept


def set_condition(status: JSON, condition_type: str, value: str, reason: str, message: str, now: str) -> bool:
    """Set a condition on `status` (edited in place: pass a copy you own). Returns whether anything changed.

    Same status, reason and message: untouched. Same status otherwise (new reason or, per docs/decisions.md Q19,
    new message): rewritten with the old lastTransitionTime. Anything else: new condition, both times now.
    """
    current = get_condition(status, condition_type)
    condition = new_condition(condition_type, value, reason, message, now)
    if current is not None and current.get("status") == value:
        if current.get("reason") == reason and current.get("message") == message:
            return False
        condition["lastTransitionTime"] = current.get("lastTransitionTime") or now
    status["conditions"] = [*_filter_out(list(status.get("conditions") or []), condition_type), condition]
    return True


def remove_condition(status: JSON, condition_type: str) -> bool:
    """Drop a condition (e.g. our validation condition once the spec is fixed). Returns whether it existed."""
    existing = status.get("conditions") or []
    kept = [c for c in existing if c.get("type") != condition_type]
    if len(kept) == len(existing):
        return False
    status["conditions"] = kept
    return True
