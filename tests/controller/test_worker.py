"""Worker pods (checklist 42-53, 109 for workers; docs/decisions.md Q1, Q9, Q10, Q11, Q13)."""

from __future__ import annotations

from typing import Any

from mpi_operator.controller.names import TEMPLATE_HASH_ANNOTATION
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.controller.worker import (
    all_ready,
    desired_worker_pod,
    scale_down,
    worker_needs_replacement,
    workers_to_clean_up,
)
from tests.controller.factory import UID, container, make_job, pod, worker_pod

OPTIONS = ControllerOptions()
RICH_TEMPLATE: dict[str, Any] = {
    "metadata": {
        "name": "ignored",
        "namespace": "elsewhere",
        "finalizers": ["x"],
        "labels": {"team": "a", "training.kubeflow.org/job-role": "spoofed"},
        "annotations": {"note": "kept"},
    },
    "spec": {
        "hostname": "user-host",
        "subdomain": "user-sub",
        "dnsConfig": {"searches": ["corp.example"], "nameservers": ["1.1.1.1"]},
        "restartPolicy": "Always",
        "volumes": [{"name": "data", "emptyDir": {}}],
        "containers": [
            container("worker", env=[{"name": "A", "value": "1"}], volumeMounts=[{"name": "data", "mountPath": "/d"}]),
            container("sidecar"),
        ],
    },
}


def test_name_hostname_subdomain_and_owner() -> None:
    worker = desired_worker_pod(make_job(), 1, OPTIONS)
    assert worker["apiVersion"] == "v1" and worker["kind"] == "Pod"
    assert worker["metadata"]["name"] == "demo-worker-1"
    assert worker["metadata"]["namespace"] == "ml"
    assert worker["metadata"]["ownerReferences"] == [
        {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "name": "demo", "uid": UID,
         "controller": True, "blockOwnerDeletion": True}
    ]
    assert worker["spec"]["hostname"] == "demo-worker-1"
    assert worker["spec"]["subdomain"] == "demo"


def test_labels_overwrite_template_labels() -> None:
    worker = desired_worker_pod(make_job(worker_template=RICH_TEMPLATE), 1, OPTIONS)
    assert worker["metadata"]["labels"] == {
        "team": "a",
        "training.kubeflow.org/operator-name": "mpi-operator",
        "training.kubeflow.org/job-name": "demo",
        "training.kubeflow.org/job-role": "worker",
        "training.kubeflow.org/replica-index": "1",
    }


def test_replica_index_is_shifted_with_launcher_as_worker() -> None:
    worker = desired_worker_pod(make_job(runLauncherAsWorker=True), 1, OPTIONS)
    assert worker["metadata"]["labels"]["training.kubeflow.org/replica-index"] == "2"


def test_template_annotations_kept_other_metadata_dropped() -> None:
    worker = desired_worker_pod(make_job(worker_template=RICH_TEMPLATE), 0, OPTIONS)
    assert set(worker["metadata"]) == {"name", "namespace", "labels", "annotations", "ownerReferences"}
    assert worker["metadata"]["annotations"]["note"] == "kept"
    assert set(worker["metadata"]["annotations"]) == {"note", TEMPLATE_HASH_ANNOTATION}


def test_dns_search_appended_using_cluster_domain() -> None:
    job = make_job(worker_template=RICH_TEMPLATE)
    worker = desired_worker_pod(job, 0, OPTIONS)
    assert worker["spec"]["dnsConfig"] == {
        "searches": ["corp.example", "demo.ml.svc.cluster.local"],
        "nameservers": ["1.1.1.1"],
    }
    other = desired_worker_pod(make_job(), 0, ControllerOptions(cluster_domain="corp.local"))
    assert other["spec"]["dnsConfig"] == {"searches": ["demo.ml.svc.corp.local"]}


def test_host_network_gets_cluster_first_with_host_net() -> None:
    template = {"spec": {"hostNetwork": True, "containers": [container()]}}
    assert desired_worker_pod(make_job(worker_template=template), 0, OPTIONS)["spec"]["dnsPolicy"] == (
        "ClusterFirstWithHostNet"
    )
    assert "dnsPolicy" not in desired_worker_pod(make_job(), 0, OPTIONS)["spec"]


def test_restart_policy_from_replica_spec() -> None:
    assert desired_worker_pod(make_job(worker_template=RICH_TEMPLATE), 0, OPTIONS)["spec"]["restartPolicy"] == "Never"


def test_default_command_only_when_command_and_args_are_empty() -> None:
    assert desired_worker_pod(make_job(), 0, OPTIONS)["spec"]["containers"][0]["command"] == ["/usr/sbin/sshd", "-De"]
    with_args = {"spec": {"containers": [container(args=["/usr/sbin/sshd", "-De", "-f", "/cfg"])]}}
    pod_spec = desired_worker_pod(make_job(worker_template=with_args), 0, OPTIONS)["spec"]
    assert "command" not in pod_spec["containers"][0]
    with_command = {"spec": {"containers": [container(command=["sleep"])]}}
    pod_spec = desired_worker_pod(make_job(worker_template=with_command), 0, OPTIONS)["spec"]
    assert pod_spec["containers"][0]["command"] == ["sleep"]


def test_role_env_appended_after_user_env_on_first_container_only() -> None:
    pod_spec = desired_worker_pod(make_job(worker_template=RICH_TEMPLATE), 0, OPTIONS)["spec"]
    assert pod_spec["containers"][0]["env"] == [
        {"name": "A", "value": "1"},
        {"name": "K_MPI_JOB_ROLE", "value": "worker"},
    ]
    assert "env" not in pod_spec["containers"][1]


def test_ssh_auth_volume_and_mount_after_user_ones() -> None:
    pod_spec = desired_worker_pod(make_job(worker_template=RICH_TEMPLATE), 0, OPTIONS)["spec"]
    assert pod_spec["volumes"] == [
        {"name": "data", "emptyDir": {}},
        {
            "name": "ssh-auth",
            "secret": {
                "secretName": "demo-ssh",
                "items": [
                    {"key": "ssh-privatekey", "path": "id_rsa"},
                    {"key": "ssh-publickey", "path": "id_rsa.pub"},
                    {"key": "ssh-publickey", "path": "authorized_keys"},
                ],
                "defaultMode": 384,
            },
        },
    ]
    assert pod_spec["containers"][0]["volumeMounts"] == [
        {"name": "data", "mountPath": "/d"},
        {"name": "ssh-auth", "mountPath": "/root/.ssh"},
    ]
    assert "volumeMounts" not in pod_spec["containers"][1]


def test_non_root_mount_path_leaves_default_mode_unset() -> None:
    pod_spec = desired_worker_pod(make_job(sshAuthMountPath="/home/mpiuser/.ssh"), 0, OPTIONS)["spec"]
    assert "defaultMode" not in pod_spec["volumes"][-1]["secret"]
    assert pod_spec["containers"][0]["volumeMounts"][-1] == {"name": "ssh-auth", "mountPath": "/home/mpiuser/.ssh"}


def test_template_is_not_mutated() -> None:
    job = make_job(worker_template=RICH_TEMPLATE)
    before = job.to_dict()
    desired_worker_pod(job, 0, ControllerOptions(gang_scheduling="volcano"))
    assert job.to_dict() == before


def test_volcano_decoration() -> None:
    worker = desired_worker_pod(make_job(), 0, ControllerOptions(gang_scheduling="volcano"))
    assert worker["spec"]["schedulerName"] == "volcano"
    assert worker["metadata"]["annotations"]["scheduling.k8s.io/group-name"] == "demo"
    assert "scheduling.x-k8s.io/pod-group" not in worker["metadata"]["labels"]


def test_scheduler_plugins_decoration() -> None:
    template = {"spec": {"schedulerName": "default-scheduler", "containers": [container()]}}
    worker = desired_worker_pod(make_job(worker_template=template), 0, ControllerOptions(gang_scheduling="sp-sched"))
    assert worker["spec"]["schedulerName"] == "sp-sched"
    assert worker["metadata"]["labels"]["scheduling.x-k8s.io/pod-group"] == "demo"
    assert "scheduling.k8s.io/group-name" not in worker["metadata"]["annotations"]


def test_no_gang_leaves_scheduler_name_untouched() -> None:
    template = {"spec": {"schedulerName": "mine", "containers": [container()]}}
    assert desired_worker_pod(make_job(worker_template=template), 0, OPTIONS)["spec"]["schedulerName"] == "mine"


def test_template_hash_is_stable_and_tracks_template_edits() -> None:
    first = desired_worker_pod(make_job(), 0, OPTIONS)
    assert desired_worker_pod(make_job(), 0, OPTIONS) == first
    new_image = {"spec": {"containers": [container(image="new")]}}
    edited = desired_worker_pod(make_job(worker_template=new_image), 0, OPTIONS)
    assert edited["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION] != (
        first["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION]
    )


def test_only_not_yet_running_pods_are_replaced_after_a_template_edit() -> None:
    job = make_job()
    desired = desired_worker_pod(job, 0, OPTIONS)
    stale = worker_pod(0, phase="Pending")
    stale["metadata"]["annotations"] = {TEMPLATE_HASH_ANNOTATION: "old"}
    assert worker_needs_replacement(stale, desired)
    stale["status"]["phase"] = "Running"
    assert not worker_needs_replacement(stale, desired)
    assert not worker_needs_replacement(worker_pod(0, phase="Pending"), desired)  # no hash: other version
    current = worker_pod(0, phase="Pending")
    current["metadata"]["annotations"] = dict(desired["metadata"]["annotations"])
    assert not worker_needs_replacement(current, desired)


def test_workers_ready_gate() -> None:
    assert all_ready([])
    assert all_ready([worker_pod(0, ready=True), worker_pod(1, ready=True)])
    assert not all_ready([worker_pod(0, ready=True), worker_pod(1)])


def test_scale_down_deletes_controlled_pods_with_index_at_or_above_replicas() -> None:
    pods = [worker_pod(i) for i in range(4)] + [worker_pod(5, owner_uid="other")]
    assert scale_down(make_job(workers=2), pods).delete == ["demo-worker-2", "demo-worker-3"]


def test_scale_down_compares_the_unshifted_index_with_launcher_as_worker() -> None:
    pods = [worker_pod(i, label_index=str(i + 1)) for i in range(3)]
    assert scale_down(make_job(workers=2, runLauncherAsWorker=True), pods).delete == ["demo-worker-2"]


def test_scale_down_reports_pods_without_index_and_keeps_going() -> None:
    unlabelled = worker_pod(7)
    del unlabelled["metadata"]["labels"]["training.kubeflow.org/replica-index"]
    garbled = worker_pod(8, label_index="x")
    plan = scale_down(make_job(workers=1), [worker_pod(0), worker_pod(1), unlabelled, garbled])
    assert plan.delete == ["demo-worker-1"]
    assert plan.unindexed == ["demo-worker-7"]


def test_cleanup_with_policy_running_keeps_finished_pods_and_reaches_every_index() -> None:
    pods = [worker_pod(0), worker_pod(1, phase="Succeeded"), worker_pod(2, phase="Failed"),
            worker_pod(3, phase="Pending"), worker_pod(9), worker_pod(4, owner_uid="other")]
    assert workers_to_clean_up(make_job(workers=2), pods) == ["demo-worker-0", "demo-worker-3", "demo-worker-9"]


def test_cleanup_with_policy_all_or_none_deletes_every_controlled_worker() -> None:
    pods = [worker_pod(0), worker_pod(1, phase="Succeeded"), worker_pod(2, phase="Failed")]
    expected = ["demo-worker-0", "demo-worker-1", "demo-worker-2"]
    for policy in ("All", "None"):
        job = make_job(runPolicy={"cleanPodPolicy": policy, "suspend": True})
        assert workers_to_clean_up(job, pods) == expected


def test_cleanup_skips_terminating_pods_and_non_workers() -> None:
    terminating = worker_pod(0)
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    launcher = pod("demo-launcher-x", labels={"training.kubeflow.org/job-name": "demo"})
    assert workers_to_clean_up(make_job(), [terminating, launcher]) == []
