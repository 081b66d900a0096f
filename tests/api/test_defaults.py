"""Controller defaulting (behaviour spec §1.3-1.6, checklist 1-4, docs/decisions.md Q4 and Q5)."""

from __future__ import annotations

from mpi_operator.api.defaults import apply_defaults
from mpi_operator.api.types import MPIJob, ReplicaSpec
from tests.api.builders import job, job_doc, with_field


def launcher(j: MPIJob) -> ReplicaSpec:
    assert j.spec.mpi_replica_specs is not None
    return j.spec.mpi_replica_specs["Launcher"]


def worker(j: MPIJob) -> ReplicaSpec:
    assert j.spec.mpi_replica_specs is not None
    return j.spec.mpi_replica_specs["Worker"]


def test_clean_pod_policy_defaults_to_running_when_run_policy_is_absent() -> None:
    defaulted = apply_defaults(job(job_doc()))
    assert defaulted.spec.run_policy is not None
    assert defaulted.spec.run_policy.clean_pod_policy == "Running"


def test_clean_pod_policy_defaults_to_running_when_null() -> None:
    defaulted = apply_defaults(job(with_field(job_doc(), "spec.runPolicy", {"backoffLimit": 3})))
    assert defaulted.spec.run_policy is not None
    assert defaulted.spec.run_policy.clean_pod_policy == "Running"
    assert defaulted.spec.run_policy.backoff_limit == 3


def test_explicit_clean_pod_policy_is_kept() -> None:
    defaulted = apply_defaults(job(with_field(job_doc(), "spec.runPolicy.cleanPodPolicy", "None")))
    assert defaulted.spec.run_policy is not None
    assert defaulted.spec.run_policy.clean_pod_policy == "None"


def test_spec_scalars_get_their_defaults() -> None:
    spec = apply_defaults(job(job_doc())).spec
    assert spec.slots_per_worker == 1
    assert spec.ssh_auth_mount_path == "/root/.ssh"
    assert spec.mpi_implementation == "OpenMPI"
    assert spec.launcher_creation_policy == "AtStartup"


def test_empty_strings_are_defaulted_like_missing_values() -> None:
    doc = job_doc()
    doc["spec"].update(sshAuthMountPath="", mpiImplementation="", launcherCreationPolicy="")
    spec = apply_defaults(job(doc)).spec
    assert spec.ssh_auth_mount_path == "/root/.ssh"
    assert spec.mpi_implementation == "OpenMPI"
    assert spec.launcher_creation_policy == "AtStartup"


def test_explicit_values_are_kept() -> None:
    doc = job_doc()
    doc["spec"].update(slotsPerWorker=0, sshAuthMountPath="/home/mpiuser/.ssh", mpiImplementation="Intel",
                       launcherCreationPolicy="WaitForWorkersReady")
    spec = apply_defaults(job(doc)).spec
    assert (spec.slots_per_worker, spec.ssh_auth_mount_path) == (0, "/home/mpiuser/.ssh")
    assert (spec.mpi_implementation, spec.launcher_creation_policy) == ("Intel", "WaitForWorkersReady")


def test_run_launcher_as_worker_is_left_unset() -> None:
    assert apply_defaults(job(job_doc())).spec.run_launcher_as_worker is None


def test_suspend_is_left_unset() -> None:
    defaulted = apply_defaults(job(job_doc()))
    assert defaulted.spec.run_policy is not None
    assert defaulted.spec.run_policy.suspend is None


def test_launcher_defaults_to_one_replica_restarting_on_failure() -> None:
    spec = launcher(apply_defaults(job(job_doc())))
    assert (spec.replicas, spec.restart_policy) == (1, "OnFailure")


def test_worker_without_replicas_defaults_to_one_replica_never_restarting() -> None:
    doc = job_doc()
    del doc["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"]
    spec = worker(apply_defaults(job(doc)))
    assert (spec.replicas, spec.restart_policy) == (1, "Never")


def test_explicit_replica_values_are_kept() -> None:
    doc = with_field(job_doc(), "spec.mpiReplicaSpecs.Worker.restartPolicy", "OnFailure")
    doc = with_field(doc, "spec.mpiReplicaSpecs.Launcher.restartPolicy", "Never")
    defaulted = apply_defaults(job(doc))
    assert (worker(defaulted).replicas, worker(defaulted).restart_policy) == (2, "OnFailure")
    assert launcher(defaulted).restart_policy == "Never"


def test_missing_replica_specs_are_not_created() -> None:
    specs = apply_defaults(job(job_doc(workers=None))).spec.mpi_replica_specs
    assert specs is not None and set(specs) == {"Launcher"}
    assert apply_defaults(MPIJob()).spec.mpi_replica_specs is None


def test_defaulting_returns_a_copy_and_leaves_the_input_untouched() -> None:
    original = job(job_doc())
    before = original.to_dict()
    defaulted = apply_defaults(original)
    assert original.to_dict() == before
    assert defaulted is not original
    assert launcher(defaulted) is not launcher(original)


def test_defaults_appear_in_the_json_form() -> None:
    spec = apply_defaults(job(job_doc())).to_dict()["spec"]
    assert spec["runPolicy"] == {"cleanPodPolicy": "Running"}
    assert spec["mpiReplicaSpecs"]["Launcher"]["restartPolicy"] == "OnFailure"
    assert spec["slotsPerWorker"] == 1


def test_defaulting_is_idempotent() -> None:
    once = apply_defaults(job(job_doc()))
    assert apply_defaults(once).to_dict() == once.to_dict()
