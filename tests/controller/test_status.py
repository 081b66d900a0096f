"""Status computation (checklist 20-22, 24, 70, 72, 76, 79-88, 92, 94; docs/decisions.md Q16-Q22)."""

from __future__ import annotations

from typing import Any

from mpi_operator.controller.status import (
    Metric,
    Transition,
    compute_status,
    status_after_cleanup,
)
from tests.controller.factory import LATER, NOW, make_job, pod, worker_pod

LUID = "launcher-uid"
SUSPENDED = {"cleanPodPolicy": "Running", "suspend": True}
RUNNING_TRANSITION = Transition("Normal", "MPIJobRunning", "MPIJob ml/demo is running")


def launcher(*conditions: dict[str, Any], **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "demo-launcher", "namespace": "ml", "uid": LUID},
        "spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": LUID}}},
        "status": {**status, "conditions": list(conditions)},
    }


def launcher_pod(name: str, phase: str = "Running", created: str = NOW, **status: Any) -> dict[str, Any]:
    result = pod(name, phase, labels={"batch.kubernetes.io/controller-uid": LUID}, owner_uid=LUID, **status)
    result["metadata"]["creationTimestamp"] = created
    return result


def complete(at: str = LATER) -> dict[str, Any]:
    return launcher({"type": "Complete", "status": "True"}, succeeded=1, completionTime=at)


def types(status: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["type"], c["status"], c["reason"]) for c in status["conditions"]]


def created_status(**extra: Any) -> dict[str, Any]:
    return {
        "conditions": [{"type": "Created", "status": "True", "reason": "MPIJobCreated",
                        "message": "MPIJob ml/demo is created.", "lastUpdateTime": NOW, "lastTransitionTime": NOW}],
        "startTime": NOW,
        **extra,
    }


def test_first_sync_adds_created_starts_the_clock_and_counts_once() -> None:
    update = compute_status(make_job(), None, [], [], NOW)
    assert update.status == {
        "conditions": [{"type": "Created", "status": "True", "reason": "MPIJobCreated",
                        "message": "MPIJob ml/demo is created.", "lastUpdateTime": NOW, "lastTransitionTime": NOW}],
        "startTime": NOW,
        "replicaStatuses": {"Worker": {}},
    }
    assert update.transitions == [Transition("Normal", "MPIJobCreated", "MPIJob ml/demo is created.", Metric.CREATED)]
    assert not update.launcher_seen


def test_created_is_added_after_a_validation_condition() -> None:
    valid = {"type": "Valid", "status": "True", "reason": "R", "message": "", "lastUpdateTime": NOW,
             "lastTransitionTime": NOW}
    update = compute_status(make_job(status={"conditions": [valid]}), None, [], [], NOW)
    assert [c["type"] for c in update.status["conditions"]] == ["Valid", "Created"]
    assert update.transitions[0].metric is Metric.CREATED


def test_created_is_not_added_again_and_start_time_is_kept() -> None:
    update = compute_status(make_job(status=created_status()), None, [], [], LATER)
    assert types(update.status) == [("Created", "True", "MPIJobCreated")]
    assert update.status["startTime"] == NOW
    assert update.transitions == []


def test_initial_status_with_a_fresh_launcher() -> None:
    update = compute_status(make_job(), launcher(), [], [worker_pod(0, "Pending"), worker_pod(1, "Pending")], NOW)
    assert update.status["replicaStatuses"] == {"Launcher": {}, "Worker": {}}
    assert update.launcher_seen


def test_job_created_suspended() -> None:
    job = make_job(runPolicy=SUSPENDED)
    update = compute_status(job, launcher(), [], [], NOW)
    assert "startTime" not in update.status
    assert types(update.status) == [
        ("Created", "True", "MPIJobCreated"),
        ("Suspended", "True", "MPIJobSuspended"),
        ("Running", "False", "MPIJobSuspended"),
    ]
    assert update.status["conditions"][1]["message"] == "MPIJob suspended"
    assert update.status["conditions"][2]["message"] == "MPIJob ml/demo is suspended."
    assert [t.reason for t in update.transitions] == ["MPIJobCreated", "MPIJobSuspended"]


def test_suspended_status_counts_still_running_launcher_pods_and_no_workers() -> None:
    job = make_job(runPolicy=SUSPENDED, status=created_status())
    update = compute_status(job, launcher(active=1), [launcher_pod("l-1")], [], LATER)
    assert update.status["replicaStatuses"] == {"Launcher": {"active": 1}, "Worker": {}}


def test_resume_sets_suspended_false_restarts_the_clock_and_emits_once() -> None:
    suspended = compute_status(make_job(runPolicy=SUSPENDED, status=created_status()), None, [], [], NOW).status
    update = compute_status(make_job(status=suspended), None, [], [], LATER)
    resumed = next(c for c in update.status["conditions"] if c["type"] == "Suspended")
    assert (resumed["status"], resumed["reason"], resumed["message"]) == ("False", "MPIJobResumed", "MPIJob resumed")
    assert update.status["startTime"] == LATER
    assert update.transitions == [Transition("Normal", "MPIJobResumed", "MPIJob resumed")]
    again = compute_status(make_job(status=update.status), None, [], [], "2026-11-28T13:00:00Z")
    assert again.transitions == [] and again.status["startTime"] == LATER


def test_running_needs_a_running_launcher_pod_and_every_worker_running() -> None:
    job = make_job(status=created_status())
    workers = [worker_pod(0), worker_pod(1, "Pending")]
    assert compute_status(job, launcher(), [launcher_pod("l")], workers, LATER).transitions == []
    assert compute_status(job, launcher(), [launcher_pod("l", "Pending")], [worker_pod(0)], LATER).transitions == []
    update = compute_status(job, launcher(), [launcher_pod("l")], [worker_pod(0), worker_pod(1)], LATER)
    assert types(update.status)[-1] == ("Running", "True", "MPIJobRunning")
    assert update.status["conditions"][-1]["message"] == "MPIJob ml/demo is running."
    assert update.transitions == [RUNNING_TRANSITION]
    steady = compute_status(make_job(status=update.status), launcher(), [launcher_pod("l")], [worker_pod(0)], LATER)
    assert steady.transitions == [] and steady.status == update.status | {
        "replicaStatuses": {"Launcher": {"active": 1}, "Worker": {"active": 1}}
    }


def test_worker_counts_by_phase() -> None:
    workers = [worker_pod(0), worker_pod(1, "Succeeded"), worker_pod(2, "Failed"), worker_pod(3, "Failed"),
               worker_pod(4, "Pending"), worker_pod(5, "Unknown")]
    update = compute_status(make_job(status=created_status()), None, [], workers, LATER)
    assert update.status["replicaStatuses"]["Worker"] == {"active": 1, "succeeded": 1, "failed": 2}


def test_launcher_active_counts_only_selected_and_controlled_running_pods() -> None:
    foreign = launcher_pod("other")
    foreign["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
    unselected = launcher_pod("unselected")
    unselected["metadata"]["labels"] = {}
    pods = [launcher_pod("a"), launcher_pod("b", "Pending"), foreign, unselected]
    update = compute_status(make_job(status=created_status()), launcher(), pods, [], LATER)
    assert update.status["replicaStatuses"]["Launcher"] == {"active": 1}


def test_failed_launcher_pod_alone_only_raises_launcher_failed() -> None:
    update = compute_status(make_job(status=created_status()), launcher(failed=1), [launcher_pod("a", "Failed")],
                            [], LATER)
    assert update.status["replicaStatuses"]["Launcher"] == {"failed": 1}
    assert types(update.status) == [("Created", "True", "MPIJobCreated")]


def test_launcher_complete_succeeds_the_job_once() -> None:
    job = make_job(status=created_status())
    update = compute_status(job, complete("2026-11-28T12:30:00Z"), [], [], LATER)
    assert update.status["replicaStatuses"] == {"Launcher": {"succeeded": 1}, "Worker": {}}
    assert update.status["completionTime"] == "2026-11-28T12:30:00Z"
    message = "MPIJob ml/demo successfully completed."
    assert types(update.status)[1] == ("Succeeded", "True", "MPIJobSucceeded")
    assert update.status["conditions"][1]["message"] == message
    assert update.transitions == [Transition("Normal", "MPIJobSucceeded", message, Metric.SUCCESSFUL)]
    again = compute_status(make_job(status=update.status), complete(), [], [], "2026-11-28T13:00:00Z")
    assert again.transitions == [] and again.status == update.status


def test_complete_launcher_without_completion_time_still_finishes_the_job() -> None:
    update = compute_status(make_job(status=created_status()),
                            launcher({"type": "Complete", "status": "True"}), [], [], LATER)
    assert update.status["completionTime"] == LATER


def test_existing_completion_time_is_not_overwritten() -> None:
    update = compute_status(make_job(status=created_status(completionTime=NOW)), complete(LATER), [], [], LATER)
    assert update.status["completionTime"] == NOW


def test_launcher_failed_with_default_reason_and_message() -> None:
    update = compute_status(make_job(status=created_status()),
                            launcher({"type": "Failed", "status": "True"}, failed=2), [], [], LATER)
    assert update.status["replicaStatuses"]["Launcher"] == {"failed": 2}
    assert update.status["completionTime"] == LATER
    failed = update.status["conditions"][1]
    assert (failed["type"], failed["status"], failed["reason"], failed["message"]) == (
        "Failed", "True", "MPIJobFailed", "MPIJob ml/demo has failed"
    )
    assert update.transitions == [Transition("Warning", "MPIJobFailed", "MPIJob ml/demo has failed", Metric.FAILED)]


def test_backoff_limit_exceeded_takes_the_newest_failed_pod() -> None:
    job_condition = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                     "message": "Job has reached the specified backoff limit"}
    pods = [
        launcher_pod("a", "Failed", "2026-11-28T11:00:00Z", reason="FailedReason1", message="first message"),
        launcher_pod("b", "Failed", "2026-11-28T11:10:00Z", reason="FailedReason2", message="second message"),
        launcher_pod("c", "Running", "2026-11-28T11:20:00Z", reason="NotFailed", message="x"),
    ]
    update = compute_status(make_job(status=created_status()), launcher(job_condition, failed=2), pods, [], LATER)
    failed = update.status["conditions"][1]
    assert failed["reason"] == "BackoffLimitExceeded/FailedReason2"
    assert failed["message"] == "Job has reached the specified backoff limit: second message"
    assert update.transitions[0].reason == "BackoffLimitExceeded/FailedReason2"


def test_backoff_limit_exceeded_skips_empty_pod_fields_and_truncates() -> None:
    job_condition = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "limit"}
    empty = compute_status(make_job(status=created_status()), launcher(job_condition),
                           [launcher_pod("a", "Failed")], [], LATER)
    assert (empty.status["conditions"][1]["reason"], empty.status["conditions"][1]["message"]) == (
        "BackoffLimitExceeded", "limit"
    )
    long = compute_status(make_job(status=created_status()), launcher(job_condition),
                          [launcher_pod("a", "Failed", reason="OOM", message="x" * 2000)], [], LATER)
    message = long.status["conditions"][1]["message"]
    assert len(message.encode()) == 1024 and message.endswith("...")


def test_succeeded_flips_running_and_keeps_it_without_re_emitting() -> None:
    running = compute_status(make_job(status=created_status()), launcher(), [launcher_pod("l")], [], NOW).status
    update = compute_status(make_job(status=running), complete(), [], [], LATER)
    assert types(update.status) == [
        ("Created", "True", "MPIJobCreated"),
        ("Running", "False", "MPIJobRunning"),
        ("Succeeded", "True", "MPIJobSucceeded"),
    ]
    assert RUNNING_TRANSITION not in update.transitions


def test_terminal_job_without_running_gets_the_never_set_condition() -> None:
    update = compute_status(make_job(status=created_status()), complete("2026-11-28T12:30:00Z"), [], [], LATER)
    never = update.status["conditions"][-1]
    assert never == {
        "type": "Running", "status": "False", "reason": "MPIJobRunning",
        "message": "MPIJob ml/demo is finished but Running condition was never set.",
        "lastUpdateTime": "2026-11-28T12:30:00Z", "lastTransitionTime": "2026-11-28T12:30:00Z",
    }


def test_eviction_fails_the_job_for_good() -> None:
    evicted = worker_pod(1, "Failed", reason="Evicted")
    update = compute_status(make_job(status=created_status()), launcher(), [launcher_pod("l")],
                            [worker_pod(0), evicted, worker_pod(2), worker_pod(3)], LATER)
    failed = next(c for c in update.status["conditions"] if c["type"] == "Failed")
    assert (failed["status"], failed["reason"]) == ("True", "MPIJobEvicted")
    assert failed["message"] == "1/4 workers are evicted"
    assert update.status["completionTime"] == LATER
    assert Transition("Warning", "MPIJobEvicted", "1/4 workers are evicted", Metric.FAILED) in update.transitions
    assert ("Running", "True", "MPIJobRunning") not in types(update.status)


def test_evicted_job_never_turns_succeeded() -> None:
    evicted = compute_status(make_job(status=created_status()), None, [],
                             [worker_pod(0, "Failed", reason="Evicted")], NOW).status
    update = compute_status(make_job(status=evicted), complete(), [], [], LATER)
    assert ("Succeeded", "True", "MPIJobSucceeded") not in types(update.status)
    assert update.transitions == []


def test_upstream_never_writes_reconcile_time_selectors_or_restarting() -> None:
    update = compute_status(make_job(status=created_status()), complete(), [launcher_pod("l")], [worker_pod(0)], LATER)
    assert "lastReconcileTime" not in update.status
    for replica_status in update.status["replicaStatuses"].values():
        assert not {"labelSelector", "selector"} & set(replica_status)
    assert "Restarting" not in [c["type"] for c in update.status["conditions"]]


def test_input_job_status_is_not_mutated() -> None:
    job = make_job(status=created_status())
    before = job.to_dict()
    compute_status(job, complete(), [], [worker_pod(0)], LATER)
    assert job.to_dict() == before


def test_cleanup_resets_worker_status() -> None:
    status = {"replicaStatuses": {"Launcher": {"succeeded": 1}, "Worker": {"active": 2}}}
    assert status_after_cleanup(status) == {"replicaStatuses": {"Launcher": {"succeeded": 1}, "Worker": {}}}
    assert status["replicaStatuses"]["Worker"] == {"active": 2}
    assert status_after_cleanup({}) == {"replicaStatuses": {"Worker": {}}}
