"""The ConfigMap: hostfile per MPI implementation and discover_hosts.sh (checklist 33-39, §3.3 examples)."""

from __future__ import annotations

from mpi_operator.controller.configmap import (
    configmap_data_differs,
    desired_configmap,
    discover_hosts_script,
    hostfile,
)
from mpi_operator.controller.options import ControllerOptions
from tests.controller.factory import UID, make_job, pod, worker_pod

NO_DOMAIN = ControllerOptions()


def test_openmpi_example_with_launcher_as_worker() -> None:
    job = make_job(runLauncherAsWorker=True)
    assert hostfile(job, NO_DOMAIN) == (
        "demo-launcher.demo.ml.svc slots=1\ndemo-worker-0.demo.ml.svc slots=1\ndemo-worker-1.demo.ml.svc slots=1\n"
    )


def test_intel_example_with_cluster_domain_and_no_launcher_line() -> None:
    job = make_job(mpiImplementation="Intel", slotsPerWorker=4)
    assert hostfile(job, ControllerOptions(cluster_domain="cluster.local")) == (
        "demo-worker-0.demo.ml.svc.cluster.local:4\ndemo-worker-1.demo.ml.svc.cluster.local:4\n"
    )


def test_mpich_lines_use_colon_slots_and_launcher_gets_the_same_slots() -> None:
    job = make_job(mpiImplementation="MPICH", slotsPerWorker=2, runLauncherAsWorker=True, workers=1)
    assert hostfile(job, NO_DOMAIN) == "demo-launcher.demo.ml.svc:2\ndemo-worker-0.demo.ml.svc:2\n"


def test_hostfile_lists_every_index_regardless_of_pods_and_is_empty_without_hosts() -> None:
    assert hostfile(make_job(workers=3), NO_DOMAIN).count("\n") == 3
    assert hostfile(make_job(workers=None), NO_DOMAIN) == ""


def test_discover_hosts_lists_running_workers_sorted_as_strings() -> None:
    pods = [worker_pod(i) for i in (2, 10, 1)] + [worker_pod(3, phase="Pending"), worker_pod(4, phase="Failed")]
    assert discover_hosts_script(make_job(workers=11), NO_DOMAIN, pods) == (
        "#!/bin/sh\n"
        "echo demo-worker-1.demo.ml.svc\n"
        "echo demo-worker-10.demo.ml.svc\n"
        "echo demo-worker-2.demo.ml.svc\n"
    )


def test_discover_hosts_puts_launcher_first_and_uses_domain() -> None:
    job = make_job(runLauncherAsWorker=True)
    script = discover_hosts_script(job, ControllerOptions(cluster_domain="c.l"), [worker_pod(0)])
    assert script == "#!/bin/sh\necho demo-launcher.demo.ml.svc.c.l\necho demo-worker-0.demo.ml.svc.c.l\n"


def test_discover_hosts_ignores_pods_without_worker_labels_and_is_bare_when_nothing_runs() -> None:
    stranger = pod("other", labels={"app": "x"})
    launcher = pod("demo-launcher-abc", labels={
        "training.kubeflow.org/operator-name": "mpi-operator",
        "training.kubeflow.org/job-name": "demo",
        "training.kubeflow.org/job-role": "launcher",
    })
    assert discover_hosts_script(make_job(), NO_DOMAIN, [stranger, launcher]) == "#!/bin/sh\n"


def test_configmap_object() -> None:
    configmap = desired_configmap(make_job(), NO_DOMAIN, [])
    assert configmap["apiVersion"] == "v1" and configmap["kind"] == "ConfigMap"
    assert configmap["metadata"]["name"] == "demo-config"
    assert configmap["metadata"]["namespace"] == "ml"
    assert configmap["metadata"]["labels"] == {"app": "demo"}
    assert configmap["metadata"]["ownerReferences"][0]["uid"] == UID
    assert set(configmap["data"]) == {"hostfile", "discover_hosts.sh"}


def test_data_drift_is_detected_when_a_worker_starts_running() -> None:
    job = make_job()
    before = desired_configmap(job, NO_DOMAIN, [worker_pod(0, phase="Pending")])
    after = desired_configmap(job, NO_DOMAIN, [worker_pod(0)])
    assert configmap_data_differs(before, after)
    assert not configmap_data_differs({**after, "metadata": {"labels": {}}}, after)
