"""PodGroups for Volcano and scheduler-plugins (checklist 99-107; §3.7 worked vectors; docs/decisions.md Q27, Q29)."""

from __future__ import annotations

from typing import Any

from mpi_operator.controller.options import ControllerOptions
from mpi_operator.controller.podgroup import desired_podgroup, min_member, min_resources, podgroup_spec_patch
from tests.controller.factory import UID, container, make_job

VOLCANO = ControllerOptions(gang_scheduling="volcano")
PLUGINS = ControllerOptions(gang_scheduling="scheduler-plugins-scheduler")


def template(priority_class: str = "", requests: dict[str, Any] | None = None,
             limits: dict[str, Any] | None = None) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    spec: dict[str, Any] = {"containers": [container(resources=resources) if resources else container()]}
    if priority_class:
        spec["priorityClassName"] = priority_class
    return {"spec": spec}


def policy(**scheduling: Any) -> dict[str, Any]:
    return {"cleanPodPolicy": "Running", "suspend": False, "schedulingPolicy": scheduling}


def test_no_podgroup_without_gang_scheduling() -> None:
    assert desired_podgroup(make_job(), ControllerOptions(), {}) is None


def test_volcano_podgroup_object() -> None:
    group = desired_podgroup(make_job(), VOLCANO, {})
    assert group is not None
    assert group["apiVersion"] == "scheduling.volcano.sh/v1beta1" and group["kind"] == "PodGroup"
    assert group["metadata"] == {
        "name": "demo",
        "namespace": "ml",
        "ownerReferences": [{"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "name": "demo", "uid": UID,
                             "controller": True, "blockOwnerDeletion": True}],
    }
    assert group["spec"] == {"minMember": 3, "minResources": {}}


def test_scheduler_plugins_podgroup_has_timeout_and_no_queue_or_priority() -> None:
    job = make_job(runPolicy=policy(queue="q", priorityClass="high", scheduleTimeoutSeconds=30))
    group = desired_podgroup(job, PLUGINS, {"high": 10})
    assert group is not None
    assert group["apiVersion"] == "scheduling.x-k8s.io/v1alpha1" and group["kind"] == "PodGroup"
    assert group["spec"] == {"minMember": 3, "scheduleTimeoutSeconds": 30}
    default = desired_podgroup(make_job(), PLUGINS, {})
    assert default is not None and default["spec"] == {"minMember": 3, "scheduleTimeoutSeconds": 0}


def test_min_member_is_min_available_or_workers_plus_one() -> None:
    assert min_member(make_job(workers=4)) == 5
    assert min_member(make_job(workers=None)) == 1
    assert min_member(make_job(workers=4, runPolicy=policy(minAvailable=2))) == 2


def test_wait_for_workers_ready_gang_counts_workers_only() -> None:
    job = make_job(workers=2, launcherCreationPolicy="WaitForWorkersReady",
                   launcher_template=template(requests={"cpu": 1}), worker_template=template(requests={"cpu": 10}))
    assert min_member(job) == 2
    assert min_resources(job, 2, {}) == {"cpu": "20"}
    explicit = make_job(workers=2, launcherCreationPolicy="WaitForWorkersReady", runPolicy=policy(minAvailable=3))
    assert min_member(explicit) == 3
    assert min_member(make_job(workers=None, launcherCreationPolicy="WaitForWorkersReady")) == 1


def test_volcano_queue_precedence() -> None:
    annotated = {"scheduling.volcano.sh/queue-name": "from-annotation"}
    with_both = make_job(annotations=annotated, runPolicy=policy(queue="from-policy"))
    assert desired_podgroup(with_both, VOLCANO, {})["spec"]["queue"] == "from-policy"  # type: ignore[index]
    only_annotation = make_job(annotations=annotated)
    assert desired_podgroup(only_annotation, VOLCANO, {})["spec"]["queue"] == "from-annotation"  # type: ignore[index]
    assert "queue" not in desired_podgroup(make_job(), VOLCANO, {})["spec"]  # type: ignore[index]


def test_volcano_priority_class_precedence() -> None:
    launcher, worker = template("launcher-pc"), template("worker-pc")
    job = make_job(launcher_template=launcher, worker_template=worker, runPolicy=policy(priorityClass="policy-pc"))
    assert desired_podgroup(job, VOLCANO, {})["spec"]["priorityClassName"] == "policy-pc"  # type: ignore[index]
    job = make_job(launcher_template=launcher, worker_template=worker)
    assert desired_podgroup(job, VOLCANO, {})["spec"]["priorityClassName"] == "launcher-pc"  # type: ignore[index]
    job = make_job(worker_template=worker)
    assert desired_podgroup(job, VOLCANO, {})["spec"]["priorityClassName"] == "worker-pc"  # type: ignore[index]
    assert "priorityClassName" not in desired_podgroup(make_job(), VOLCANO, {})["spec"]  # type: ignore[index]


def test_min_resources_launcher_plus_workers() -> None:
    job = make_job(workers=2, launcher_template=template(requests={"cpu": 1, "memory": "2Gi"}),
                   worker_template=template(requests={"cpu": 10, "memory": "20Gi"}))
    assert min_resources(job, 3, {}) == {"cpu": "21", "memory": "42Gi"}


def test_min_resources_equal_priorities_count_workers_as_min_member_minus_one() -> None:
    job = make_job(workers=2, launcher_template=template(requests={"cpu": 2, "memory": "2Gi"}),
                   worker_template=template(requests={"cpu": 5, "memory": "16Gi"}))
    assert min_resources(job, 2, {}) == {"cpu": "7", "memory": "18Gi"}


def test_min_resources_lower_priority_entry_is_reduced() -> None:
    job = make_job(workers=100, launcher_template=template("high", requests={"cpu": 2, "memory": "4Gi"}),
                   worker_template=template("low", requests={"cpu": 20, "memory": "64Gi"}))
    assert min_resources(job, 2, {"high": 100010, "low": 10010}) == {"cpu": "22", "memory": "68Gi"}


def test_min_resources_prefers_requests_over_limits_per_name() -> None:
    job = make_job(workers=1, launcher_template=template(), worker_template=template(
        requests={"cpu": 10, "memory": "16Gi"}, limits={"nvidia.com/gpu": 8, "cpu": 20, "memory": "32Gi"}))
    assert min_resources(job, 2, {}) == {"cpu": "10", "memory": "16Gi", "nvidia.com/gpu": "8"}


def test_min_resources_explicit_value_is_used_verbatim_and_none_for_empty_gang() -> None:
    job = make_job(runPolicy=policy(minResources={"cpu": "500m", "memory": "1024Mi"}))
    assert min_resources(job, 3, {}) == {"cpu": "500m", "memory": "1Gi"}
    assert min_resources(make_job(), 0, {}) is None
    zero = make_job(runPolicy=policy(minAvailable=0))
    group = desired_podgroup(zero, VOLCANO, {})
    assert group is not None and group["spec"] == {"minMember": 0}


def test_missing_priority_class_counts_as_zero() -> None:
    job = make_job(workers=2, launcher_template=template("gone", requests={"cpu": 1}),
                   worker_template=template(requests={"cpu": 3}))
    assert min_resources(job, 2, {}) == {"cpu": "4"}


def test_min_resources_in_podgroups() -> None:
    job = make_job(workers=1, worker_template=template(requests={"cpu": 1}))
    assert desired_podgroup(job, VOLCANO, {})["spec"]["minResources"] == {"cpu": "1"}  # type: ignore[index]
    assert desired_podgroup(job, PLUGINS, {})["spec"]["minResources"] == {"cpu": "1"}  # type: ignore[index]


def test_patch_writes_only_owned_fields_that_differ() -> None:
    desired = desired_podgroup(make_job(runPolicy=policy(queue="q", minAvailable=2,
                                                          minResources={"cpu": "1", "memory": "1Gi"})), VOLCANO, {})
    assert desired is not None
    existing = {"spec": {"minMember": 2, "queue": "q", "minResources": {"cpu": "1000m", "memory": "1073741824"},
                         "priorityClassName": "scheduler-default"}}
    assert podgroup_spec_patch(existing, desired) is None
    existing["spec"]["minMember"] = 5
    existing["spec"]["minResources"] = {"cpu": "2", "memory": "1Gi", "nvidia.com/gpu": "1"}
    assert podgroup_spec_patch(existing, desired) == {
        "spec": {"minMember": 2, "minResources": {"nvidia.com/gpu": None, "cpu": "1", "memory": "1Gi"}}
    }


def test_spec_changes_propagate_through_the_patch() -> None:
    old = desired_podgroup(make_job(runPolicy=policy(scheduleTimeoutSeconds=10)), PLUGINS, {})
    new = desired_podgroup(make_job(runPolicy=policy(scheduleTimeoutSeconds=20, minAvailable=1)), PLUGINS, {})
    assert old is not None and new is not None
    assert podgroup_spec_patch(old, new) == {"spec": {"minMember": 1, "scheduleTimeoutSeconds": 20}}
