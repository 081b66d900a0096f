"""The launcher Job (checklist 54-68, 74, 109 for the launcher; docs/decisions.md Q13, Q31, Q41)."""

from __future__ import annotations

from typing import Any

import pytest

from mpi_operator.controller.finalizer import LAUNCHER_FINALIZER, launcher_finalizer_releasable
from mpi_operator.controller.launcher import (
    TemplateChange,
    desired_launcher_job,
    is_launcher_done,
    launcher_may_run,
    launcher_template_change,
    should_suspend_after_failure,
    sync_scheduling_directives,
)
from mpi_operator.controller.names import TEMPLATE_HASH_ANNOTATION
from mpi_operator.controller.options import ControllerOptions
from tests.controller.factory import UID, container, make_job, worker_pod

OPTIONS = ControllerOptions()
USER_TEMPLATE: dict[str, Any] = {
    "metadata": {"name": "x", "labels": {"team": "a"}, "annotations": {"note": "kept"}, "finalizers": ["f"]},
    "spec": {
        "volumes": [{"name": "data", "emptyDir": {}}],
        "containers": [
            container("launcher", env=[{"name": "A", "value": "1"}],
                      volumeMounts=[{"name": "data", "mountPath": "/d"}]),
            container("sidecar"),
        ],
    },
}
OWNER = {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "name": "demo", "uid": UID,
         "controller": True, "blockOwnerDeletion": True}


def build(**kwargs: Any) -> dict[str, Any]:
    options = kwargs.pop("options", OPTIONS)
    return desired_launcher_job(make_job(**kwargs), options).job


def env_of(job: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["name"], e["value"]) for e in job["spec"]["template"]["spec"]["containers"][0]["env"]]


def test_job_object_metadata() -> None:
    job = build(launcher_template=USER_TEMPLATE)
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    assert job["metadata"]["name"] == "demo-launcher"
    assert job["metadata"]["namespace"] == "ml"
    assert job["metadata"]["labels"] == {"app": "demo"}
    assert job["metadata"]["ownerReferences"] == [OWNER]
    assert job["metadata"]["finalizers"] == [LAUNCHER_FINALIZER]
    assert set(job["metadata"]["annotations"]) == {TEMPLATE_HASH_ANNOTATION}


def test_run_policy_fields_are_copied_and_pod_replacement_is_failed() -> None:
    policy = {"cleanPodPolicy": "Running", "suspend": False, "ttlSecondsAfterFinished": 60,
              "activeDeadlineSeconds": 0, "backoffLimit": 3}
    spec = build(runPolicy=policy)["spec"]
    assert spec["ttlSecondsAfterFinished"] == 60
    assert spec["activeDeadlineSeconds"] == 0
    assert spec["backoffLimit"] == 3
    assert spec["podReplacementPolicy"] == "Failed"
    assert "suspend" not in spec
    assert not {"selector", "completions", "parallelism"} & set(spec)


def test_unset_run_policy_fields_are_omitted() -> None:
    spec = build()["spec"]
    assert not {"ttlSecondsAfterFinished", "activeDeadlineSeconds", "backoffLimit"} & set(spec)


def test_suspended_job_creates_a_suspended_launcher() -> None:
    assert build(runPolicy={"cleanPodPolicy": "Running", "suspend": True})["spec"]["suspend"] is True


def test_template_labels_annotations_and_owner() -> None:
    meta = build(launcher_template=USER_TEMPLATE)["spec"]["template"]["metadata"]
    assert meta == {
        "labels": {
            "team": "a",
            "training.kubeflow.org/operator-name": "mpi-operator",
            "training.kubeflow.org/job-name": "demo",
            "training.kubeflow.org/job-role": "launcher",
        },
        "annotations": {"note": "kept"},
        "ownerReferences": [OWNER],
    }


def test_replica_index_zero_only_with_launcher_as_worker() -> None:
    labels = build(runLauncherAsWorker=True)["spec"]["template"]["metadata"]["labels"]
    assert labels["training.kubeflow.org/replica-index"] == "0"


def test_hostname_subdomain_no_dns_search() -> None:
    spec = build()["spec"]["template"]["spec"]
    assert spec["hostname"] == "demo-launcher"
    assert spec["subdomain"] == "demo"
    assert "dnsConfig" not in spec and "dnsPolicy" not in spec
    host_net = {"spec": {"hostNetwork": True, "containers": [container()]}}
    assert build(launcher_template=host_net)["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirstWithHostNet"


NVIDIA = [("NVIDIA_VISIBLE_DEVICES", ""), ("NVIDIA_DRIVER_CAPABILITIES", "")]


@pytest.mark.parametrize(
    ("implementation", "block"),
    [
        ("OpenMPI", [
            ("OMPI_MCA_orte_keep_fqdn_hostnames", "true"),
            ("OMPI_MCA_orte_default_hostfile", "/etc/mpi/hostfile"),
            ("OMPI_MCA_plm_rsh_args", "-o ConnectionAttempts=10"),
            ("OMPI_MCA_orte_set_default_slots", "3"),
            ("PRTE_MCA_prte_default_hostfile", "/etc/mpi/hostfile"),
            ("PRTE_MCA_plm_ssh_args", "-o ConnectionAttempts=10"),
            ("PRTE_MCA_prte_set_default_slots", "3"),
        ]),
        ("Intel", [
            ("I_MPI_HYDRA_HOST_FILE", "/etc/mpi/hostfile"),
            ("I_MPI_HYDRA_BOOTSTRAP_EXEC_EXTRA_ARGS", "-o ConnectionAttempts=10"),
            ("I_MPI_PERHOST", "3"),
        ]),
        ("MPICH", [
            ("HYDRA_HOST_FILE", "/etc/mpi/hostfile"),
            ("HYDRA_LAUNCH_EXTRA_ARGS", "-o ConnectionAttempts=10"),
            ("HYDRA_LAUNCHER_EXTRA_ARGS", "-o ConnectionAttempts=10"),
        ]),
    ],
)
def test_env_order_user_role_implementation_nvidia(implementation: str, block: list[tuple[str, str]]) -> None:
    job = build(launcher_template=USER_TEMPLATE, mpiImplementation=implementation, slotsPerWorker=3)
    assert env_of(job) == [("A", "1"), ("K_MPI_JOB_ROLE", "launcher"), *block, *NVIDIA]
    assert "env" not in job["spec"]["template"]["spec"]["containers"][1]


def test_launcher_as_worker_keeps_gpus_visible() -> None:
    assert not {name for name, _ in env_of(build(runLauncherAsWorker=True))} & {n for n, _ in NVIDIA}


def test_volumes_and_mounts_in_order_user_ssh_config() -> None:
    spec = build(launcher_template=USER_TEMPLATE)["spec"]["template"]["spec"]
    assert [v["name"] for v in spec["volumes"]] == ["data", "ssh-auth", "mpi-job-config"]
    assert spec["volumes"][1]["secret"]["defaultMode"] == 384
    assert spec["volumes"][2] == {
        "name": "mpi-job-config",
        "configMap": {
            "name": "demo-config",
            "items": [
                {"key": "hostfile", "path": "hostfile", "mode": 292},
                {"key": "discover_hosts.sh", "path": "discover_hosts.sh", "mode": 365},
            ],
        },
    }
    assert spec["containers"][0]["volumeMounts"] == [
        {"name": "data", "mountPath": "/d"},
        {"name": "ssh-auth", "mountPath": "/root/.ssh"},
        {"name": "mpi-job-config", "mountPath": "/etc/mpi"},
    ]
    assert "volumeMounts" not in spec["containers"][1]


def test_restart_policy_from_replica_spec_with_override_flag() -> None:
    plain = desired_launcher_job(make_job(), OPTIONS)
    assert plain.job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert not plain.restart_policy_overridden
    template = {"spec": {"restartPolicy": "Never", "containers": [container()]}}
    overridden = desired_launcher_job(make_job(launcher_template=template), OPTIONS)
    assert overridden.job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert overridden.restart_policy_overridden


def test_gang_decoration_on_launcher() -> None:
    volcano = build(options=ControllerOptions(gang_scheduling="volcano"))["spec"]["template"]
    assert volcano["spec"]["schedulerName"] == "volcano"
    assert volcano["metadata"]["annotations"] == {"scheduling.k8s.io/group-name": "demo"}
    plugins = build(options=ControllerOptions(gang_scheduling="sp"))["spec"]["template"]
    assert plugins["spec"]["schedulerName"] == "sp"
    assert plugins["metadata"]["labels"]["scheduling.x-k8s.io/pod-group"] == "demo"


def test_template_hash_changes_with_the_launcher_template_only() -> None:
    base = build()["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION]
    assert build()["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION] == base
    edited = build(launcher_template={"spec": {"containers": [container(image="v2")]}})
    assert edited["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION] != base
    suspended = build(runPolicy={"cleanPodPolicy": "Running", "suspend": True})
    assert suspended["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION] == base


def _existing(desired: dict[str, Any], hash_value: str, **status: Any) -> dict[str, Any]:
    existing = {**desired, "metadata": {**desired["metadata"], "annotations": {TEMPLATE_HASH_ANNOTATION: hash_value}}}
    existing["status"] = status
    return existing


def test_template_change_replaces_a_launcher_that_never_started_a_pod() -> None:
    desired = build()
    assert launcher_template_change(_existing(desired, "old"), desired, False) is TemplateChange.REPLACE


def test_template_change_replaces_while_suspended_and_defers_while_running() -> None:
    desired = build()
    started = _existing(desired, "old", active=1)
    assert launcher_template_change(started, desired, True) is TemplateChange.REPLACE
    assert launcher_template_change(started, desired, False) is TemplateChange.DEFERRED


def test_no_template_change_for_same_hash_foreign_job_or_finished_job() -> None:
    desired = build()
    current = desired["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION]
    assert launcher_template_change(_existing(desired, current), desired, False) is TemplateChange.NONE
    foreign = {**desired, "metadata": {"name": "demo-launcher"}}
    assert launcher_template_change(foreign, desired, False) is TemplateChange.NONE
    done = _existing(desired, "old", conditions=[{"type": "Complete", "status": "True"}])
    assert launcher_template_change(done, desired, True) is TemplateChange.NONE


def test_scheduling_directives_sync_on_resume() -> None:
    existing = build(launcher_template={
        "metadata": {"labels": {"keep": "1", "clash": "old"}, "annotations": {"a": "1"}},
        "spec": {"nodeSelector": {"zone": "a"}, "tolerations": [{"key": "t"}],
                 "schedulingGates": [{"name": "g"}], "containers": [container()]},
    }, runPolicy={"cleanPodPolicy": "Running", "suspend": True})
    existing["status"] = {"active": 0}
    desired = build(launcher_template={
        "metadata": {"labels": {"clash": "new", "added": "2"}, "annotations": {"kueue": "x"}},
        "spec": {"nodeSelector": {"zone": "b"}, "containers": [container(image="other")]},
    })
    synced = sync_scheduling_directives(existing, desired)
    template = synced["spec"]["template"]
    assert template["metadata"]["labels"]["keep"] == "1"
    assert template["metadata"]["labels"]["clash"] == "new"
    assert template["metadata"]["labels"]["added"] == "2"
    assert template["metadata"]["annotations"] == {"a": "1", "kueue": "x"}
    assert template["spec"]["nodeSelector"] == {"zone": "b"}
    assert "tolerations" not in template["spec"] and "schedulingGates" not in template["spec"]
    # Only directives move: containers, suspend and status stay as they were; the input is untouched.
    assert template["spec"]["containers"] == existing["spec"]["template"]["spec"]["containers"]
    assert synced["spec"]["suspend"] is True and synced["status"] == {"active": 0}
    assert existing["spec"]["template"]["spec"]["nodeSelector"] == {"zone": "a"}


def test_launcher_done_only_on_complete_or_failed_true() -> None:
    def job_with(*conditions: tuple[str, str]) -> dict[str, Any]:
        return {"status": {"conditions": [{"type": t, "status": s} for t, s in conditions]}}

    assert is_launcher_done(job_with(("Complete", "True")))
    assert is_launcher_done(job_with(("Failed", "True")))
    assert not is_launcher_done(job_with(("SuccessCriteriaMet", "True"), ("FailureTarget", "True")))
    assert not is_launcher_done(job_with(("Complete", "False")))
    assert not is_launcher_done(None)


def test_finalizer_released_once_the_result_is_recorded_or_the_mpijob_goes() -> None:
    launcher = build()
    recorded = {"conditions": [{"type": "Succeeded", "status": "True"}], "completionTime": "2026-01-01T00:00:00Z"}
    assert launcher_finalizer_releasable(launcher, recorded, False)
    assert not launcher_finalizer_releasable(launcher, {"conditions": recorded["conditions"]}, False)
    assert not launcher_finalizer_releasable(launcher, {}, False)
    assert launcher_finalizer_releasable(launcher, {}, True)
    assert not launcher_finalizer_releasable({"metadata": {}}, recorded, True)


def test_launcher_of_an_evicted_job_is_suspended_under_running_or_all() -> None:
    failed = {"conditions": [{"type": "Failed", "status": "True"}], "completionTime": "2026-01-01T00:00:00Z"}
    running_launcher = {**build(), "status": {"active": 1}}
    for policy, expected in (("Running", True), ("All", True), ("None", False)):
        job = make_job(runPolicy={"cleanPodPolicy": policy, "suspend": False})
        assert should_suspend_after_failure(job, failed, running_launcher) is expected
    job = make_job()
    assert not should_suspend_after_failure(job, {"conditions": failed["conditions"]}, running_launcher)
    assert not should_suspend_after_failure(job, failed, None)
    suspended = {**running_launcher, "spec": {**running_launcher["spec"], "suspend": True}}
    assert not should_suspend_after_failure(job, failed, suspended)
    done = {**running_launcher, "status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    assert not should_suspend_after_failure(job, failed, done)


def test_at_startup_launcher_never_waits() -> None:
    assert launcher_may_run(make_job(), [])
    assert launcher_may_run(make_job(), [worker_pod(0, "Pending")])


def test_wait_for_workers_ready_needs_every_worker_ready() -> None:
    job = make_job(workers=2, launcherCreationPolicy="WaitForWorkersReady")
    assert not launcher_may_run(job, [])  # e.g. just resumed, workers not created yet
    assert not launcher_may_run(job, [worker_pod(0, ready=True)])
    assert not launcher_may_run(job, [worker_pod(0, ready=True), worker_pod(1)])
    assert launcher_may_run(job, [worker_pod(0, ready=True), worker_pod(1, ready=True)])
    assert launcher_may_run(make_job(workers=None, launcherCreationPolicy="WaitForWorkersReady"), [])
