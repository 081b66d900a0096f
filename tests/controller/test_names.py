"""Object names, labels, the controller ownerReference and the ownership test; operator options."""

from __future__ import annotations

from mpi_operator.controller import names
from mpi_operator.controller.options import ControllerOptions, GangScheduler
from mpi_operator.kube.meta import is_controlled_by
from tests.controller.factory import UID, make_job, pod


def test_object_names_follow_upstream() -> None:
    job = make_job()
    assert names.service_name(job) == "demo"
    assert names.configmap_name(job) == "demo-config"
    assert names.secret_name(job) == "demo-ssh"
    assert names.launcher_name(job) == "demo-launcher"
    assert names.worker_name(job, 3) == "demo-worker-3"
    assert names.podgroup_name(job) == "demo"


def test_owner_reference_is_a_blocking_controller_reference() -> None:
    assert names.owner_reference(make_job()) == {
        "apiVersion": "kubeflow.org/v2beta1",
        "kind": "MPIJob",
        "name": "demo",
        "uid": UID,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_is_controlled_by_checks_the_controller_reference_uid() -> None:
    assert is_controlled_by(pod("p"), UID)
    assert not is_controlled_by(pod("p", owner_uid="other"), UID)
    plain = pod("p")
    plain["metadata"]["ownerReferences"][0]["controller"] = False
    assert not is_controlled_by(plain, UID)
    del plain["metadata"]["ownerReferences"]
    assert not is_controlled_by(plain, UID)
    assert not is_controlled_by(pod("p", owner_uid=""), "")
    truthy = pod("p")
    truthy["metadata"]["ownerReferences"][0]["controller"] = "yes"  # only the boolean true controls
    assert not is_controlled_by(truthy, UID)


def test_labels() -> None:
    job = make_job()
    assert names.app_labels(job) == {"app": "demo"}
    assert names.worker_selector(job) == {
        "training.kubeflow.org/operator-name": "mpi-operator",
        "training.kubeflow.org/job-name": "demo",
        "training.kubeflow.org/job-role": "worker",
    }


def test_gang_scheduling_modes() -> None:
    assert ControllerOptions().gang_scheduler is GangScheduler.NONE
    assert ControllerOptions(gang_scheduling="volcano").gang_scheduler is GangScheduler.VOLCANO
    plugins = ControllerOptions(gang_scheduling="scheduler-plugins-scheduler")
    assert plugins.gang_scheduler is GangScheduler.SCHEDULER_PLUGINS
    assert plugins.scheduler_name == "scheduler-plugins-scheduler"


def test_dns_search_domain_defaults_to_cluster_local() -> None:
    assert ControllerOptions().dns_search_domain == "cluster.local"
    assert ControllerOptions(cluster_domain="corp.example").dns_search_domain == "corp.example"
