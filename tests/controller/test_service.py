"""The headless Service (checklist 30-32)."""

from __future__ import annotations

from mpi_operator.controller.service import desired_service, service_spec_patch
from tests.controller.factory import UID, make_job


def test_service_is_headless_selects_all_job_pods_and_has_no_ports() -> None:
    service = desired_service(make_job())
    assert service["apiVersion"] == "v1" and service["kind"] == "Service"
    assert service["metadata"]["name"] == "demo"
    assert service["metadata"]["namespace"] == "ml"
    assert service["metadata"]["labels"] == {"app": "demo"}
    assert service["metadata"]["ownerReferences"][0]["uid"] == UID
    assert service["spec"] == {
        "clusterIP": "None",
        "selector": {
            "training.kubeflow.org/operator-name": "mpi-operator",
            "training.kubeflow.org/job-name": "demo",
        },
        "publishNotReadyAddresses": False,
    }


def test_publish_not_ready_addresses_follows_run_launcher_as_worker() -> None:
    assert desired_service(make_job(runLauncherAsWorker=True))["spec"]["publishNotReadyAddresses"] is True


def test_drifted_selector_and_publish_flag_are_patched_back() -> None:
    desired = desired_service(make_job(runLauncherAsWorker=True))
    existing = {"spec": {"clusterIP": "None", "selector": {"app": "x"}}}
    assert service_spec_patch(existing, desired) == {
        "spec": {"selector": desired["spec"]["selector"], "publishNotReadyAddresses": True}
    }


def test_matching_service_needs_no_write() -> None:
    desired = desired_service(make_job())
    existing = {"spec": {**desired["spec"], "ports": [], "clusterIPs": ["None"]}}
    del existing["spec"]["publishNotReadyAddresses"]  # absent equals false
    assert service_spec_patch(existing, desired) is None
