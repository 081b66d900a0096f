"""Custom-resource schema handling: defaulting, pruning and OpenAPI validation with apiserver-like causes."""

from __future__ import annotations

import copy
from typing import Any

from mpi_operator.sandbox.admission.schema import apply_schema_defaults, prune_unknown_fields, validate_against_schema

QUANTITY = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)

CONTAINER: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "image": {"type": "string"},
        "imagePullPolicy": {"type": "string", "default": "IfNotPresent"},
        "resources": {
            "type": "object",
            "properties": {
                "limits": {
                    "type": "object",
                    "additionalProperties": {
                        "anyOf": [{"type": "integer"}, {"type": "string"}],
                        "pattern": QUANTITY,
                        "x-kubernetes-int-or-string": True,
                    },
                }
            },
        },
    },
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["replicaSpecs"],
            "properties": {
                "slotsPerWorker": {"type": "integer", "format": "int32", "default": 1, "minimum": 0},
                "mpiImplementation": {"type": "string", "enum": ["OpenMPI", "Intel", "MPICH"], "default": "OpenMPI"},
                "launcherCreationPolicy": {"type": "string", "enum": ["AtStartup", "WaitForWorkersReady"],
                                           "default": "AtStartup"},
                "runPolicy": {
                    "type": "object",
                    "default": {},
                    "properties": {
                        "cleanPodPolicy": {"type": "string", "default": "Running"},
                        "suspend": {"type": "boolean", "default": False},
                        "backoffLimit": {"type": "integer", "nullable": True},
                    },
                },
                "sshAuthMountPath": {"type": "string", "minLength": 1, "maxLength": 10, "pattern": "^/"},
                "hosts": {"type": "array", "maxItems": 2, "minItems": 1, "items": {"type": "string"},
                          "x-kubernetes-list-type": "set"},
                "replicaSpecs": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {
                            "replicas": {"type": "integer", "default": 1, "maximum": 100},
                            "template": {
                                "type": "object",
                                "properties": {
                                    "metadata": {"type": "object", "properties": {
                                        "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
                                    "spec": {
                                        "type": "object",
                                        "properties": {
                                            "containers": {
                                                "type": "array",
                                                "items": CONTAINER,
                                                "x-kubernetes-list-type": "map",
                                                "x-kubernetes-list-map-keys": ["name"],
                                            },
                                            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                                                      "properties": {"known": {"type": "object"}}},
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
                "embedded": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "properties": {"spec": {"type": "object"}}},
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def job() -> dict[str, Any]:
    return {
        "apiVersion": "kubeflow.org/v2beta1",
        "kind": "MPIJob",
        "metadata": {"name": "pi", "namespace": "default"},
        "spec": {
            "replicaSpecs": {
                "Launcher": {"template": {"spec": {"containers": [{"name": "l", "image": "mpi"}]}}},
                "Worker": {"replicas": 2, "template": {"spec": {"containers": [{"name": "w", "image": "mpi"}]}}},
            }
        },
    }


# --- defaulting -------------------------------------------------------------------------------------------------


def test_defaults_fill_absent_fields_top_down_including_defaulted_objects() -> None:
    obj = job()
    apply_schema_defaults(obj, SCHEMA)
    spec = obj["spec"]
    assert spec["slotsPerWorker"] == 1
    assert spec["mpiImplementation"] == "OpenMPI"
    assert spec["launcherCreationPolicy"] == "AtStartup"
    assert spec["runPolicy"] == {"cleanPodPolicy": "Running", "suspend": False}


def test_defaults_reach_additional_properties_and_array_items() -> None:
    obj = job()
    apply_schema_defaults(obj, SCHEMA)
    launcher = obj["spec"]["replicaSpecs"]["Launcher"]
    assert launcher["replicas"] == 1
    assert obj["spec"]["replicaSpecs"]["Worker"]["replicas"] == 2
    assert launcher["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"


def test_defaults_do_not_create_missing_parents() -> None:
    obj: dict[str, Any] = {"apiVersion": "v", "kind": "K", "metadata": {"name": "x"}}
    apply_schema_defaults(obj, SCHEMA)
    assert "spec" not in obj


def test_non_nullable_null_is_dropped_or_defaulted_and_nullable_null_kept() -> None:
    obj = job()
    obj["spec"]["slotsPerWorker"] = None
    obj["spec"]["sshAuthMountPath"] = None
    obj["spec"]["runPolicy"] = {"backoffLimit": None}
    apply_schema_defaults(obj, SCHEMA)
    assert obj["spec"]["slotsPerWorker"] == 1
    assert "sshAuthMountPath" not in obj["spec"]
    assert obj["spec"]["runPolicy"]["backoffLimit"] is None


def test_defaults_are_copies_not_shared_values() -> None:
    first, second = job(), job()
    apply_schema_defaults(first, SCHEMA)
    apply_schema_defaults(second, SCHEMA)
    first["spec"]["runPolicy"]["suspend"] = True
    assert second["spec"]["runPolicy"]["suspend"] is False


# --- pruning ----------------------------------------------------------------------------------------------------


def test_pruning_drops_unknown_fields_and_reports_their_paths() -> None:
    obj = job()
    obj["spec"]["foo"] = 1
    obj["spec"]["replicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["bogus"] = True
    obj["spec"]["replicaSpecs"]["Worker"]["template"]["metadata"] = {"labels": {"a": "b"}, "junk": 1}
    obj["top"] = "x"
    removed = prune_unknown_fields(obj, SCHEMA)
    assert sorted(removed) == sorted([
        ".spec.foo",
        ".spec.replicaSpecs.Worker.template.spec.containers[0].bogus",
        ".spec.replicaSpecs.Worker.template.metadata.junk",
        ".top",
    ])
    assert "foo" not in obj["spec"]
    assert obj["spec"]["replicaSpecs"]["Worker"]["template"]["metadata"] == {"labels": {"a": "b"}}


def test_pruning_keeps_root_type_fields_and_object_meta_only() -> None:
    obj = job()
    obj["metadata"]["labels"] = {"a": "b"}
    obj["metadata"]["notMeta"] = 1
    removed = prune_unknown_fields(obj, SCHEMA)
    assert removed == [".metadata.notMeta"]
    assert obj["apiVersion"] == "kubeflow.org/v2beta1" and obj["kind"] == "MPIJob"
    assert obj["metadata"] == {"name": "pi", "namespace": "default", "labels": {"a": "b"}}


def test_preserve_unknown_fields_keeps_unknown_but_prunes_declared_children() -> None:
    obj = job()
    obj["status"] = {"anything": {"goes": [1, 2]}}
    worker_spec = obj["spec"]["replicaSpecs"]["Worker"]["template"]["spec"]
    worker_spec["extra"] = {"free": 1, "known": {"dropped": 2}}
    assert prune_unknown_fields(obj, SCHEMA) == [".spec.replicaSpecs.Worker.template.spec.extra.known.dropped"]
    assert obj["status"] == {"anything": {"goes": [1, 2]}}
    assert worker_spec["extra"] == {"free": 1, "known": {}}


def test_embedded_resource_keeps_api_version_kind_and_metadata() -> None:
    obj = job()
    obj["spec"]["embedded"] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}, "x": 1}
    assert prune_unknown_fields(obj, SCHEMA) == [".spec.embedded.x"]
    assert obj["spec"]["embedded"] == {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}


# --- validation -------------------------------------------------------------------------------------------------


def valid_job() -> dict[str, Any]:
    obj = job()
    apply_schema_defaults(obj, SCHEMA)
    return obj


def test_valid_object_has_no_causes() -> None:
    obj = valid_job()
    obj["spec"]["replicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": 1}}
    assert validate_against_schema(obj, SCHEMA) == []


def test_type_mismatch_reads_like_the_apiserver() -> None:
    obj = valid_job()
    obj["spec"]["slotsPerWorker"] = "two"
    assert validate_against_schema(obj, SCHEMA) == [{
        "reason": "FieldValueTypeInvalid",
        "field": "spec.slotsPerWorker",
        "message": 'Invalid value: "string": spec.slotsPerWorker in body must be of type integer: "string"',
    }]


def test_integer_rejects_fractions_but_number_accepts_integers() -> None:
    obj = valid_job()
    obj["spec"]["slotsPerWorker"] = 1.5
    causes = validate_against_schema(obj, SCHEMA)
    assert [c["reason"] for c in causes] == ["FieldValueTypeInvalid"]
    obj["spec"]["slotsPerWorker"] = 2.0
    assert validate_against_schema(obj, SCHEMA) == []


def test_enum_violation_lists_supported_values() -> None:
    obj = valid_job()
    obj["spec"]["mpiImplementation"] = "LAM"
    assert validate_against_schema(obj, SCHEMA) == [{
        "reason": "FieldValueNotSupported",
        "field": "spec.mpiImplementation",
        "message": 'Unsupported value: "LAM": supported values: "OpenMPI", "Intel", "MPICH"',
    }]


def test_required_fields_are_reported_at_their_path() -> None:
    obj = valid_job()
    del obj["spec"]["replicaSpecs"]
    obj["spec"]["embedded"] = {}
    del obj["spec"]["embedded"]
    assert validate_against_schema(obj, SCHEMA) == [
        {"reason": "FieldValueRequired", "field": "spec.replicaSpecs", "message": "Required value"}
    ]


def test_required_inside_array_items_and_additional_properties() -> None:
    obj = valid_job()
    obj["spec"]["replicaSpecs"]["Worker"]["template"]["spec"]["containers"].append({"image": "x"})
    causes = validate_against_schema(obj, SCHEMA)
    assert causes == [{"reason": "FieldValueRequired",
                       "field": "spec.replicaSpecs.Worker.template.spec.containers[1].name",
                       "message": "Required value"}]


def test_numeric_bounds() -> None:
    obj = valid_job()
    obj["spec"]["slotsPerWorker"] = -1
    obj["spec"]["replicaSpecs"]["Worker"]["replicas"] = 101
    messages = sorted(c["message"] for c in validate_against_schema(obj, SCHEMA))
    assert messages == [
        "Invalid value: -1: spec.slotsPerWorker in body should be greater than or equal to 0",
        "Invalid value: 101: spec.replicaSpecs.Worker.replicas in body should be less than or equal to 100",
    ]


def test_string_length_and_pattern() -> None:
    obj = valid_job()
    obj["spec"]["sshAuthMountPath"] = "relative/too/long"
    causes = validate_against_schema(obj, SCHEMA)
    assert causes == [
        {"reason": "FieldValueTooLong", "field": "spec.sshAuthMountPath",
         "message": "Too long: may not be more than 10 bytes"},
        {"reason": "FieldValueInvalid", "field": "spec.sshAuthMountPath",
         "message": "Invalid value: \"relative/too/long\": spec.sshAuthMountPath in body should match '^/'"},
    ]
    obj["spec"]["sshAuthMountPath"] = ""
    assert [c["message"] for c in validate_against_schema(obj, SCHEMA)] == [
        'Invalid value: "": spec.sshAuthMountPath in body should be at least 1 chars long',
        "Invalid value: \"\": spec.sshAuthMountPath in body should match '^/'",
    ]


def test_array_bounds_and_set_uniqueness() -> None:
    obj = valid_job()
    obj["spec"]["hosts"] = ["a", "b", "a"]
    assert validate_against_schema(obj, SCHEMA) == [
        {"reason": "FieldValueTooMany", "field": "spec.hosts", "message": "Too many: 3: must have at most 2 items"},
        {"reason": "FieldValueDuplicate", "field": "spec.hosts[2]", "message": 'Duplicate value: "a"'},
    ]
    obj["spec"]["hosts"] = []
    assert [c["message"] for c in validate_against_schema(obj, SCHEMA)] == [
        "Invalid value: 0: spec.hosts in body should have at least 1 items"]


def test_list_map_keys_must_be_unique() -> None:
    obj = valid_job()
    containers = obj["spec"]["replicaSpecs"]["Worker"]["template"]["spec"]["containers"]
    containers.append({"name": "w", "image": "other"})
    assert validate_against_schema(obj, SCHEMA) == [{
        "reason": "FieldValueDuplicate",
        "field": "spec.replicaSpecs.Worker.template.spec.containers[1]",
        "message": 'Duplicate value: {"name":"w"}',
    }]


def test_int_or_string_accepts_both_and_checks_string_pattern() -> None:
    obj = valid_job()
    limits = {"cpu": 2, "memory": "lots", "flag": True}
    obj["spec"]["replicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["resources"] = {"limits": limits}
    causes = validate_against_schema(obj, SCHEMA)
    field = "spec.replicaSpecs.Worker.template.spec.containers[0].resources.limits"
    assert [(c["field"], c["reason"]) for c in causes] == [
        (f"{field}.memory", "FieldValueInvalid"),
        (f"{field}.flag", "FieldValueTypeInvalid"),
    ]


def test_null_is_a_type_error_unless_nullable() -> None:
    obj = valid_job()
    obj["spec"]["runPolicy"]["backoffLimit"] = None
    assert validate_against_schema(obj, SCHEMA) == []
    obj["spec"]["runPolicy"]["suspend"] = None
    assert validate_against_schema(obj, SCHEMA) == [{
        "reason": "FieldValueTypeInvalid",
        "field": "spec.runPolicy.suspend",
        "message": 'Invalid value: "null": spec.runPolicy.suspend in body must be of type boolean: "null"',
    }]


def test_root_metadata_is_not_schema_checked_and_object_is_not_mutated() -> None:
    obj = valid_job()
    obj["metadata"]["labels"] = {"a": "b"}
    snapshot = copy.deepcopy(obj)
    assert validate_against_schema(obj, SCHEMA) == []
    assert obj == snapshot
