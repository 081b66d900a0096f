"""Validation of a defaulted MPIJob (behaviour spec §1.10, checklist 5-13, docs/decisions.md Q3, Q6, Q7, Q28, Q40),
Kubernetes-style rendering of field errors, and parsing problems reported as field errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mpi_operator.api.defaults import apply_defaults
from mpi_operator.api.types import MPIJob
from mpi_operator.api.validation import (
    ErrorType,
    FieldError,
    aggregate,
    is_managed_externally,
    parse_mpijob,
    truncate_message,
    validate_document,
    validate_mpijob,
    validation_message,
)
from tests.api.builders import job, job_doc, with_field
from tests.conftest import examples_dir

LAUNCHER = "spec.mpiReplicaSpecs[Launcher]"
WORKER = "spec.mpiReplicaSpecs[Worker]"
DNS1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
           "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
           "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


def errors_of(doc: dict[str, Any]) -> list[str]:
    """The rendered errors of a document after defaulting, as the controller sees them."""
    return [str(e) for e in validate_mpijob(apply_defaults(job(doc)))]


def set_field(path: str, value: Any, workers: int | None = 2) -> list[str]:
    return errors_of(with_field(job_doc(workers=workers), path, value))


# Rendering (Kubernetes field.Error and Aggregate)

def test_required_renders_without_a_value() -> None:
    assert str(FieldError.required("spec.x", "must be set")) == "spec.x: Required value: must be set"
    assert str(FieldError.required("spec.x")) == "spec.x: Required value"


def test_invalid_quotes_strings_and_prints_numbers_bare() -> None:
    assert str(FieldError.invalid("a", "x", "bad")) == 'a: Invalid value: "x": bad'
    assert str(FieldError.invalid("a", 5, "bad")) == "a: Invalid value: 5: bad"
    assert str(FieldError.invalid("a", True, "bad")) == "a: Invalid value: true: bad"
    assert str(FieldError.invalid("a", None, "bad")) == "a: Invalid value: null: bad"


def test_strings_are_quoted_like_go() -> None:
    assert str(FieldError.invalid("a", 'say "hi"\n\\', "bad")) == r'a: Invalid value: "say \"hi\"\n\\": bad'
    assert str(FieldError.invalid("a", "héllo\x01", "bad")) == r'a: Invalid value: "héllo\x01": bad'


def test_not_supported_lists_sorted_quoted_values() -> None:
    error = FieldError.not_supported("spec.p", "Always", ["OnFailure", "Never"])
    assert error.type is ErrorType.NOT_SUPPORTED
    assert str(error) == 'spec.p: Unsupported value: "Always": supported values: "Never", "OnFailure"'


def test_forbidden_renders_its_detail() -> None:
    assert str(FieldError.forbidden("spec.x", "may not change")) == "spec.x: Forbidden: may not change"


def test_aggregate_of_one_error_is_its_text() -> None:
    assert aggregate([FieldError.required("a", "x")]) == "a: Required value: x"


def test_aggregate_of_several_errors_is_bracketed_and_comma_separated() -> None:
    errors = [FieldError.required("a", "x"), FieldError.invalid("b", 1, "y"), FieldError.required("a", "x")]
    assert aggregate(errors) == "[a: Required value: x, b: Invalid value: 1: y]"


def test_aggregate_of_duplicates_only_is_a_single_text() -> None:
    assert aggregate([FieldError.required("a", "x")] * 3) == "a: Required value: x"
    assert aggregate([]) == ""


def test_short_messages_are_not_truncated() -> None:
    assert truncate_message("x" * 1024) == "x" * 1024


def test_long_messages_keep_their_first_1021_bytes_and_end_with_dots() -> None:
    message = "".join(chr(ord("a") + i % 26) for i in range(2000))
    cut = truncate_message(message)
    assert len(cut.encode()) == 1024
    assert cut == message[:1021] + "..."


def test_truncation_never_splits_a_character() -> None:
    cut = truncate_message("é" * 1000)  # 2 bytes each
    assert cut == "é" * 510 + "..."
    assert len(cut.encode()) <= 1024
    assert truncate_message("abcdef", limit=5) == "ab..."


def test_validation_message_is_prefixed_and_limited_to_1024_bytes() -> None:
    one = [FieldError.required("a", "x")]
    assert validation_message(one) == "Found validation errors: a: Required value: x"
    many = [FieldError.invalid(f"spec.field{i}", i, "must be something else") for i in range(100)]
    message = validation_message(many)
    assert message.startswith("Found validation errors: [spec.field0: Invalid value: 0: ")
    assert len(message.encode()) == 1024 and message.endswith("...")


# Valid jobs

@pytest.mark.parametrize("path", sorted(examples_dir().glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_is_valid(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        defaulted, errors = validate_document(doc)
        assert errors == []
        assert defaulted is not None


def test_minimal_job_is_valid() -> None:
    assert errors_of(job_doc()) == []


def test_launcher_only_job_is_valid() -> None:
    assert errors_of(job_doc(workers=None)) == []


def test_worker_without_replicas_is_valid_because_it_defaults_to_one() -> None:
    doc = job_doc()
    del doc["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"]
    assert errors_of(doc) == []


def test_unknown_replica_types_are_ignored() -> None:
    assert set_field("spec.mpiReplicaSpecs.PS", {"replicas": 7}) == []


def test_validation_does_not_mutate_the_job() -> None:
    defaulted = apply_defaults(job(with_field(job_doc(), "spec.slotsPerWorker", -1)))
    before = defaulted.to_dict()
    validate_mpijob(defaulted)
    assert defaulted.to_dict() == before


# Rule 1: the highest worker host name must be a DNS-1035 label

def test_name_starting_with_a_digit_is_invalid() -> None:
    assert errors_of(job_doc(name="1-foo")) == [
        'metadata.name: Invalid value: "1-foo": will not able to create pod and service with invalid DNS label '
        f'"1-foo-worker-1": {DNS1035}']


def test_name_with_uppercase_letters_is_invalid() -> None:
    assert errors_of(job_doc(name="Pi")) == [
        'metadata.name: Invalid value: "Pi": will not able to create pod and service with invalid DNS label '
        f'"Pi-worker-1": {DNS1035}']


def test_over_long_host_name_is_invalid() -> None:
    name = "a" * 60
    assert errors_of(job_doc(name=name)) == [
        f'metadata.name: Invalid value: "{name}": will not able to create pod and service with invalid DNS label '
        f'"{name}-worker-1": must be no more than 63 characters']


def test_name_check_uses_the_last_worker_index() -> None:
    name = "a" * 54  # "-worker-9" fits in 63 characters, "-worker-10" does not
    assert errors_of(job_doc(name=name, workers=10)) == []
    assert len(errors_of(job_doc(name=name, workers=11))) == 1
    assert errors_of(job_doc(name=name, workers=None)) == []  # no Worker spec: index 0
    assert len(errors_of(job_doc(name=name + "a", workers=None))) == 1


def test_name_check_uses_index_zero_when_worker_replicas_are_not_positive() -> None:
    errors = errors_of(job_doc(name="Pi", workers=0))
    assert '"Pi-worker-0"' in errors[0]


# Rules 2-11: replica specs

def test_missing_replica_specs_are_required() -> None:
    doc = job_doc()
    del doc["spec"]["mpiReplicaSpecs"]
    assert errors_of(doc) == ["spec.mpiReplicaSpecs: Required value: must have replica specs"]


def test_missing_launcher_is_required() -> None:
    doc = job_doc()
    del doc["spec"]["mpiReplicaSpecs"]["Launcher"]
    assert errors_of(doc) == [f"{LAUNCHER}: Required value: must have Launcher replica spec"]


@pytest.mark.parametrize("replicas", [0, 2, -1])
def test_launcher_replicas_other_than_one_are_invalid(replicas: int) -> None:
    assert set_field("spec.mpiReplicaSpecs.Launcher.replicas", replicas) == [
        f"{LAUNCHER}.replicas: Invalid value: {replicas}: must be 1"]


@pytest.mark.parametrize("replicas", [0, -3])
def test_worker_replicas_below_one_are_invalid(replicas: int) -> None:
    assert set_field("spec.mpiReplicaSpecs.Worker.replicas", replicas) == [
        f"{WORKER}.replicas: Invalid value: {replicas}: must be greater than or equal to 1"]


@pytest.mark.parametrize("replica_type", ["Launcher", "Worker"])
@pytest.mark.parametrize("policy", ["Always", "ExitCode", "Sometimes"])
def test_restart_policies_other_than_never_and_on_failure_are_not_supported(replica_type: str, policy: str) -> None:
    assert set_field(f"spec.mpiReplicaSpecs.{replica_type}.restartPolicy", policy) == [
        f'spec.mpiReplicaSpecs[{replica_type}].restartPolicy: Unsupported value: "{policy}": '
        'supported values: "Never", "OnFailure"']


@pytest.mark.parametrize("replica_type", ["Launcher", "Worker"])
@pytest.mark.parametrize("policy", ["Never", "OnFailure"])
def test_never_and_on_failure_are_accepted(replica_type: str, policy: str) -> None:
    assert set_field(f"spec.mpiReplicaSpecs.{replica_type}.restartPolicy", policy) == []


@pytest.mark.parametrize("replica_type", ["Launcher", "Worker"])
@pytest.mark.parametrize("template", [{}, {"spec": {}}, {"spec": {"containers": []}}])
def test_template_without_containers_is_required(replica_type: str, template: dict[str, Any]) -> None:
    assert set_field(f"spec.mpiReplicaSpecs.{replica_type}.template", template) == [
        f"spec.mpiReplicaSpecs[{replica_type}].template.spec.containers: Required value: "
        "must define at least one container"]


def test_undefaulted_replica_specs_report_every_missing_field() -> None:
    doc = job_doc()
    doc["spec"]["mpiReplicaSpecs"] = {"Launcher": {}, "Worker": {}}
    errors = validate_mpijob(job(doc))  # not defaulted: the null checks upstream keeps
    assert [(e.type, e.field) for e in errors][:6] == [
        (ErrorType.REQUIRED, f"{LAUNCHER}.replicas"),
        (ErrorType.NOT_SUPPORTED, f"{LAUNCHER}.restartPolicy"),
        (ErrorType.REQUIRED, f"{LAUNCHER}.template.spec.containers"),
        (ErrorType.REQUIRED, f"{WORKER}.replicas"),
        (ErrorType.NOT_SUPPORTED, f"{WORKER}.restartPolicy"),
        (ErrorType.REQUIRED, f"{WORKER}.template.spec.containers"),
    ]
    assert str(errors[0]) == f"{LAUNCHER}.replicas: Required value: must define number of replicas"
    assert str(errors[1]) == f'{LAUNCHER}.restartPolicy: Unsupported value: "": supported values: "Never", "OnFailure"'


def test_empty_undefaulted_job_reports_every_required_field_in_order() -> None:
    errors = validate_mpijob(MPIJob())
    assert [(e.type, e.field) for e in errors] == [
        (ErrorType.INVALID, "metadata.name"),
        (ErrorType.REQUIRED, "spec.mpiReplicaSpecs"),
        (ErrorType.REQUIRED, "spec.slotsPerWorker"),
        (ErrorType.REQUIRED, "spec.runPolicy.cleanPodPolicy"),
        (ErrorType.REQUIRED, "spec.sshAuthMountPath"),
        (ErrorType.NOT_SUPPORTED, "spec.mpiImplementation"),
        (ErrorType.NOT_SUPPORTED, "spec.launcherCreationPolicy"),
    ]
    assert str(errors[2]) == "spec.slotsPerWorker: Required value: must have number of slots per worker"
    assert str(errors[3]) == "spec.runPolicy.cleanPodPolicy: Required value: must have clean Pod policy"
    assert str(errors[4]) == "spec.sshAuthMountPath: Required value: must have a mount path for SSH credentials"


# Rules 12-16: numbers

@pytest.mark.parametrize("path", ["spec.slotsPerWorker", "spec.runPolicy.ttlSecondsAfterFinished",
                                  "spec.runPolicy.activeDeadlineSeconds", "spec.runPolicy.backoffLimit"])
def test_negative_numbers_are_invalid(path: str) -> None:
    assert set_field(path, -1) == [f"{path}: Invalid value: -1: must be greater than or equal to 0"]


@pytest.mark.parametrize("path", ["spec.slotsPerWorker", "spec.runPolicy.ttlSecondsAfterFinished",
                                  "spec.runPolicy.activeDeadlineSeconds", "spec.runPolicy.backoffLimit"])
def test_zero_is_accepted(path: str) -> None:
    assert set_field(path, 0) == []


# Rules 13, 17, 19 and decisions: enumerations

@pytest.mark.parametrize("value", ["All", "None", "Running"])
def test_known_clean_pod_policies_are_accepted(value: str) -> None:
    assert set_field("spec.runPolicy.cleanPodPolicy", value) == []


@pytest.mark.parametrize("value", ["Sometimes", "all", ""])
def test_unknown_clean_pod_policy_is_not_supported(value: str) -> None:
    assert set_field("spec.runPolicy.cleanPodPolicy", value) == [
        f'spec.runPolicy.cleanPodPolicy: Unsupported value: "{value}": supported values: "All", "None", "Running"']


@pytest.mark.parametrize("value", ["OpenMPI", "Intel", "MPICH"])
def test_known_mpi_implementations_are_accepted(value: str) -> None:
    assert set_field("spec.mpiImplementation", value) == []


def test_unknown_mpi_implementation_is_not_supported() -> None:
    assert set_field("spec.mpiImplementation", "MVAPICH") == [
        'spec.mpiImplementation: Unsupported value: "MVAPICH": supported values: "Intel", "MPICH", "OpenMPI"']


@pytest.mark.parametrize("value", ["AtStartup", "WaitForWorkersReady"])
def test_known_launcher_creation_policies_are_accepted(value: str) -> None:
    assert set_field("spec.launcherCreationPolicy", value) == []


def test_unknown_launcher_creation_policy_is_not_supported() -> None:
    assert set_field("spec.launcherCreationPolicy", "WhenReady") == [
        'spec.launcherCreationPolicy: Unsupported value: "WhenReady": '
        'supported values: "AtStartup", "WaitForWorkersReady"']


@pytest.mark.parametrize("value", [None, "", "kubeflow.org/mpi-operator", "kueue.x-k8s.io/multikueue"])
def test_unset_empty_and_reserved_managed_by_are_valid(value: str | None) -> None:
    assert set_field("spec.runPolicy.managedBy", value) == []


def test_other_managed_by_is_not_supported() -> None:
    assert set_field("spec.runPolicy.managedBy", "example.com/other") == [
        'spec.runPolicy.managedBy: Unsupported value: "example.com/other": '
        'supported values: "kubeflow.org/mpi-operator", "kueue.x-k8s.io/multikueue"']


def test_only_multikueue_is_managed_externally() -> None:
    assert is_managed_externally(job(with_field(job_doc(), "spec.runPolicy.managedBy", "kueue.x-k8s.io/multikueue")))
    for value in (None, "", "kubeflow.org/mpi-operator", "example.com/other"):
        assert not is_managed_externally(job(with_field(job_doc(), "spec.runPolicy.managedBy", value)))
    assert not is_managed_externally(job(job_doc()))


# Decision Q28: minAvailable

@pytest.mark.parametrize("value", [0, 1, 3])
def test_min_available_up_to_the_pod_count_is_valid(value: int) -> None:
    assert set_field("spec.runPolicy.schedulingPolicy.minAvailable", value) == []  # 2 workers + launcher


def test_negative_min_available_is_invalid() -> None:
    assert set_field("spec.runPolicy.schedulingPolicy.minAvailable", -1) == [
        "spec.runPolicy.schedulingPolicy.minAvailable: Invalid value: -1: must be greater than or equal to 0"]


def test_min_available_above_the_pod_count_is_invalid() -> None:
    assert set_field("spec.runPolicy.schedulingPolicy.minAvailable", 4) == [
        "spec.runPolicy.schedulingPolicy.minAvailable: Invalid value: 4: "
        "must be less than or equal to 3, the job's pod count (workers + launcher)"]
    assert len(set_field("spec.runPolicy.schedulingPolicy.minAvailable", 2, workers=None)) == 1


# Order and aggregation of a job with many problems

def test_all_errors_are_reported_in_upstream_order() -> None:
    doc = job_doc(name="1-foo", workers=0)
    doc["spec"].update(slotsPerWorker=-1, mpiImplementation="X", launcherCreationPolicy="Y",
                       runPolicy={"cleanPodPolicy": "Z", "ttlSecondsAfterFinished": -1, "activeDeadlineSeconds": -1,
                                  "backoffLimit": -1, "managedBy": "m", "schedulingPolicy": {"minAvailable": -1}})
    doc["spec"]["mpiReplicaSpecs"]["Launcher"].update(replicas=2, restartPolicy="Always", template={})
    doc["spec"]["mpiReplicaSpecs"]["Worker"].update(restartPolicy="ExitCode", template={})
    errors = validate_mpijob(apply_defaults(job(doc)))
    assert [e.field for e in errors] == [
        "metadata.name",
        f"{LAUNCHER}.restartPolicy", f"{LAUNCHER}.template.spec.containers", f"{LAUNCHER}.replicas",
        f"{WORKER}.restartPolicy", f"{WORKER}.template.spec.containers", f"{WORKER}.replicas",
        "spec.slotsPerWorker",
        "spec.runPolicy.cleanPodPolicy", "spec.runPolicy.ttlSecondsAfterFinished",
        "spec.runPolicy.activeDeadlineSeconds", "spec.runPolicy.backoffLimit", "spec.runPolicy.managedBy",
        "spec.runPolicy.schedulingPolicy.minAvailable",
        "spec.mpiImplementation", "spec.launcherCreationPolicy",
    ]
    assert aggregate(errors).startswith('[metadata.name: Invalid value: "1-foo": ')
    assert aggregate(errors).endswith('supported values: "AtStartup", "WaitForWorkersReady"]')


# Parsing: type errors become field errors

def test_non_integer_replicas_is_a_field_error() -> None:
    parsed, errors = parse_mpijob(with_field(job_doc(), "spec.mpiReplicaSpecs.Worker.replicas", "abc"))
    assert parsed is None
    assert [str(e) for e in errors] == [f'{WORKER}.replicas: Invalid value: "abc": must be an integer']


def test_numeric_string_is_not_an_integer() -> None:
    _, errors = parse_mpijob(with_field(job_doc(), "spec.slotsPerWorker", "3"))
    assert [str(e) for e in errors] == ['spec.slotsPerWorker: Invalid value: "3": must be an integer']


def test_spec_that_is_not_an_object_is_a_field_error() -> None:
    _, errors = parse_mpijob(with_field(job_doc(), "spec", 5))
    assert [str(e) for e in errors] == ["spec: Invalid value: 5: must be an object"]


@pytest.mark.parametrize(("path", "value", "expected"), [
    ("spec.runLauncherAsWorker", "yes", 'spec.runLauncherAsWorker: Invalid value: "yes": must be a boolean'),
    ("spec.sshAuthMountPath", 5, "spec.sshAuthMountPath: Invalid value: 5: must be a string"),
    ("spec.mpiReplicaSpecs.Worker.template", [1], f'{WORKER}.template: Invalid value: "array": must be an object'),
    ("spec.runPolicy.schedulingPolicy.minResources", {"cpu": [1]},
     'spec.runPolicy.schedulingPolicy.minResources[cpu]: Invalid value: "array": '
     "must be a quantity (an integer or a string)"),
    ("status", {"conditions": [{"type": "Running"}]}, "status.conditions[0].status: Required value"),
    ("metadata", "x", 'metadata: Invalid value: "x": must be an object'),
    ("metadata.name", 5, "metadata.name: Invalid value: 5: must be a string"),
    ("spec.mpiReplicaSpecs.Worker.template.spec.containers", {"name": "x"},
     f'{WORKER}.template.spec.containers: Invalid value: "object": must be an array'),
    ("spec.mpiReplicaSpecs.Worker.template.spec.containers", ["x"],
     f'{WORKER}.template.spec.containers[0]: Invalid value: "x": must be an object'),
])
def test_malformed_fields_are_field_errors(path: str, value: Any, expected: str) -> None:
    _, errors = parse_mpijob(with_field(job_doc(), path, value))
    assert [str(e) for e in errors] == [expected]


def test_non_string_replica_type_key_is_a_field_error() -> None:
    doc = job_doc()
    doc["spec"]["mpiReplicaSpecs"][1] = {}
    _, errors = parse_mpijob(doc)
    assert [str(e) for e in errors] == ["spec.mpiReplicaSpecs[1]: Invalid value: 1: keys must be strings"]


@pytest.mark.parametrize("doc", [None, 5, "text", [1, 2]])
def test_a_document_that_is_not_an_object_is_a_field_error(doc: Any) -> None:
    parsed, errors = parse_mpijob(doc)
    assert parsed is None
    assert len(errors) == 1 and "an MPIJob must be an object" in str(errors[0])


def test_wrong_kind_and_api_version_are_reported() -> None:
    doc = job_doc()
    doc.update(kind="Pod", apiVersion="kubeflow.org/v1")
    _, errors = parse_mpijob(doc)
    assert [str(e) for e in errors] == [
        'kind: Unsupported value: "Pod": supported values: "MPIJob"',
        'apiVersion: Unsupported value: "kubeflow.org/v1": supported values: "kubeflow.org/v2beta1"']


def test_absent_kind_and_api_version_are_accepted() -> None:
    doc = job_doc()
    del doc["kind"], doc["apiVersion"]
    parsed, errors = parse_mpijob(doc)
    assert parsed is not None and errors == []


def test_validate_document_returns_the_defaulted_job() -> None:
    defaulted, errors = validate_document(job_doc())
    assert errors == []
    assert defaulted is not None and defaulted.spec.slots_per_worker == 1


def test_validate_document_stops_at_parse_errors() -> None:
    defaulted, errors = validate_document(with_field(job_doc(name="1-bad"), "spec.slotsPerWorker", "x"))
    assert defaulted is None
    assert [e.field for e in errors] == ["spec.slotsPerWorker"]
