"""setCondition and filter rules (checklist 86, 89-91; docs/decisions.md Q19, Q20)."""

from __future__ import annotations

from typing import Any

import pytest

from mpi_operator.controller import conditions
from mpi_operator.controller.conditions import get_condition, is_finished, remove_condition, set_condition
from tests.controller.factory import LATER, NOW


def cond(type_: str, status: str = "True", reason: str = "R", message: str = "m", at: str = NOW) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastUpdateTime": at, "lastTransitionTime": at}


def test_new_condition_gets_both_times_now_and_goes_last() -> None:
    status: dict[str, Any] = {"conditions": [cond("Created")]}
    assert set_condition(status, "Running", "True", "MPIJobRunning", "running", LATER)
    assert status["conditions"][-1] == cond("Running", reason="MPIJobRunning", message="running", at=LATER)


def test_same_status_reason_and_message_is_unchanged() -> None:
    status: dict[str, Any] = {"conditions": [cond("Running"), cond("Created")]}
    before = [dict(c) for c in status["conditions"]]
    assert not set_condition(status, "Running", "True", "R", "m", LATER)
    assert status["conditions"] == before


def test_message_change_updates_message_and_keeps_transition_time() -> None:
    status: dict[str, Any] = {"conditions": [cond("Failed", reason="MPIJobEvicted", message="1/4 workers are evicted")]}
    assert set_condition(status, "Failed", "True", "MPIJobEvicted", "2/4 workers are evicted", LATER)
    failed = get_condition(status, "Failed")
    assert failed is not None
    assert failed["message"] == "2/4 workers are evicted"
    assert failed["lastTransitionTime"] == NOW and failed["lastUpdateTime"] == LATER


def test_reason_change_keeps_transition_time_refreshes_update_time_and_moves_last() -> None:
    status: dict[str, Any] = {"conditions": [cond("Suspended", reason="A"), cond("Created")]}
    assert set_condition(status, "Suspended", "True", "B", "m", LATER)
    assert [c["type"] for c in status["conditions"]] == ["Created", "Suspended"]
    assert status["conditions"][-1]["lastTransitionTime"] == NOW
    assert status["conditions"][-1]["lastUpdateTime"] == LATER


def test_status_change_sets_new_transition_time() -> None:
    status: dict[str, Any] = {"conditions": [cond("Suspended", reason="MPIJobSuspended")]}
    assert set_condition(status, "Suspended", "False", "MPIJobResumed", "MPIJob resumed", LATER)
    assert status["conditions"] == [cond("Suspended", "False", "MPIJobResumed", "MPIJob resumed", LATER)]


def test_running_and_restarting_exclude_each_other() -> None:
    status: dict[str, Any] = {"conditions": [cond("Restarting"), cond("Created")]}
    set_condition(status, "Running", "True", "R", "m", LATER)
    assert [c["type"] for c in status["conditions"]] == ["Created", "Running"]
    set_condition(status, "Restarting", "True", "R", "m", LATER)
    assert [c["type"] for c in status["conditions"]] == ["Created", "Restarting"]


def test_succeeded_flips_running_and_failed_to_false_without_touching_them_otherwise() -> None:
    status: dict[str, Any] = {"conditions": [cond("Created"), cond("Running"), cond("Failed", reason="Evicted")]}
    set_condition(status, "Succeeded", "True", "MPIJobSucceeded", "done", LATER)
    assert status["conditions"] == [
        cond("Created"),
        cond("Running", "False"),
        cond("Failed", "False", reason="Evicted"),
        cond("Succeeded", reason="MPIJobSucceeded", message="done", at=LATER),
    ]


def test_failed_flips_running_to_false() -> None:
    status: dict[str, Any] = {"conditions": [cond("Running"), cond("Created")]}
    set_condition(status, "Failed", "True", "MPIJobFailed", "x", LATER)
    assert [(c["type"], c["status"]) for c in status["conditions"]] == [
        ("Running", "False"), ("Created", "True"), ("Failed", "True")
    ]
    assert is_finished(status)
    assert not is_finished({"conditions": [cond("Succeeded", "False")]})


def test_remove_condition() -> None:
    status: dict[str, Any] = {"conditions": [cond("Valid", "False"), cond("Created")]}
    assert remove_condition(status, "Valid")
    assert status["conditions"] == [cond("Created")]
    assert not remove_condition(status, "Valid")


@pytest.mark.parametrize(("true", "state"), [
    ((), None),
    (("Created",), "Created"),
    (("Created", "Running"), "Running"),
    (("Created", "Suspended"), "Suspended"),            # a suspended job's Running is False, even if last
    (("Created", "Running", "Succeeded"), "Succeeded"),
    (("Created", "Failed", "Suspended"), "Failed"),     # an evicted job's launcher is suspended too
    (("Created", "ValidationFailed"), "ValidationFailed"),
])
def test_state_is_the_first_true_condition_by_precedence(true: tuple[str, ...], state: str | None) -> None:
    types = ("Created", "Running", "Suspended", "Succeeded", "Failed", "ValidationFailed")
    status = {"conditions": [{"type": t, "status": "True" if t in true else "False"} for t in reversed(types)]}
    assert conditions.job_state(status) == state
    assert conditions.with_state(status).get("state") == state
