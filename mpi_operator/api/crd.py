"""The MPIJob CustomResourceDefinition, generated from the pydantic API models and kubernetes_asyncio's pod types.

Field names, nesting, formats and enums come from `api.types`; what the models cannot say (schema defaults,
admission rules, embedded Kubernetes types) is in the tables below. Invariant: `crd_yaml()` is deterministic,
and manifests/base/kubeflow.org_mpijobs.yaml is exactly its output (`make manifests`).
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any

import yaml
from pydantic import BaseModel

from mpi_operator.api import constants
from mpi_operator.api.constants import CleanPodPolicy, LauncherCreationPolicy, MPIImplementation
from mpi_operator.api.openapi_schema import (
    Schema,
    int_or_string_schema,
    model_schema,
    pod_template_spec_schema,
    quantity_schema,
)
from mpi_operator.api.types import JobStatus, MPIJobSpec

# Fields whose model type is a plain dict or a loose union: the schema of the Kubernetes type they hold.
EMBEDDED_TYPES: dict[tuple[str, str], typing.Callable[[], Schema]] = {
    ("ReplicaSpec", "template"): pod_template_spec_schema,
    ("ReplicaStatus", "labelSelector"): lambda: model_schema("V1LabelSelector"),
    ("SchedulingPolicy", "minResources"): lambda: {"type": "object", "additionalProperties": quantity_schema()},
}

# Schema defaults, persisted by the API server. cleanPodPolicy's matches the controller's default (decision Q4).
DEFAULTS: dict[tuple[str, str], Any] = {
    ("MPIJobSpec", "slotsPerWorker"): constants.DEFAULT_SLOTS_PER_WORKER,
    ("MPIJobSpec", "runLauncherAsWorker"): False,
    ("MPIJobSpec", "sshAuthMountPath"): constants.DEFAULT_SSH_AUTH_MOUNT_PATH,
    ("MPIJobSpec", "launcherCreationPolicy"): LauncherCreationPolicy.AT_STARTUP.value,
    ("MPIJobSpec", "mpiImplementation"): MPIImplementation.OPENMPI.value,
    ("RunPolicy", "suspend"): False,
    ("RunPolicy", "cleanPodPolicy"): CleanPodPolicy.RUNNING.value,
}

# Integers that must not be negative (0 is accepted, decision Q40; minAvailable: Q28).
NON_NEGATIVE: frozenset[tuple[str, str]] = frozenset({
    ("MPIJobSpec", "slotsPerWorker"),
    ("RunPolicy", "ttlSecondsAfterFinished"),
    ("RunPolicy", "activeDeadlineSeconds"),
    ("RunPolicy", "backoffLimit"),
    ("SchedulingPolicy", "minAvailable"),
    ("SchedulingPolicy", "scheduleTimeoutSeconds"),
    ("ReplicaSpec", "replicas"),
})

# Extra keywords per field: admission rules the models do not carry.
EXTRA_KEYWORDS: dict[tuple[str, str], Schema] = {
    # Decision Q3: only the two reserved values; bounded so CEL's cost estimate stays small.
    ("RunPolicy", "managedBy"): {"enum": list(constants.RESERVED_MANAGED_BY), "maxLength": 63},
    ("MPIJobSpec", "mpiReplicaSpecs"): {
        "x-kubernetes-validations": [
            {
                "rule": "!('Launcher' in self) || !has(self.Launcher.replicas) || self.Launcher.replicas == 1",
                "message": "Launcher replicas must be 1",
            },
            {
                "rule": "!('Worker' in self) || !has(self.Worker.replicas) || self.Worker.replicas >= 1",
                "message": "Worker replicas must be greater than or equal to 1",
            },
        ],
    },
    ("JobStatus", "conditions"): {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
}

# managedBy may be set at creation only; unset and "" count as the same (decision Q3). A spec-level rule also
# catches adding or removing the field, which a rule on the field itself would not see.
MANAGED_BY_IMMUTABLE = {
    "rule": (
        "(has(self.runPolicy) && has(self.runPolicy.managedBy) ? self.runPolicy.managedBy : '') == "
        "(has(oldSelf.runPolicy) && has(oldSelf.runPolicy.managedBy) ? oldSelf.runPolicy.managedBy : '')"
    ),
    "message": "spec.runPolicy.managedBy is immutable",
}

PRINTER_COLUMNS = [
    # Conditions are appended as they change, so the last one is the latest state (as training-operator does).
    {"name": "State", "type": "string", "jsonPath": ".status.state"},
    {"name": "Workers", "type": "integer", "jsonPath": ".spec.mpiReplicaSpecs.Worker.replicas"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

_PRIMITIVES: dict[type, Schema] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
}


def _non_none_members(annotation: Any) -> tuple[Any, ...]:
    """The members of a union other than None (`X | None` is optional, which `required` expresses)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return tuple(arg for arg in typing.get_args(annotation) if arg is not type(None))
    return (annotation,)


def _annotation_schema(annotation: Any) -> Schema:
    members = _non_none_members(annotation)
    if set(members) == {int, str}:
        return int_or_string_schema()
    if len(members) != 1:
        raise TypeError(f"no OpenAPI schema for the union {annotation!r}")
    (annotation,) = members
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return pydantic_model_schema(annotation)
    if annotation in _PRIMITIVES:
        return dict(_PRIMITIVES[annotation])
    if origin is list:
        (item,) = typing.get_args(annotation)
        return {"type": "array", "items": _annotation_schema(item)}
    if origin is dict:
        _, value = typing.get_args(annotation)
        if value is Any:
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        return {"type": "object", "additionalProperties": _annotation_schema(value)}
    raise TypeError(f"no OpenAPI schema for annotation {annotation!r}")


def pydantic_model_schema(model: type[BaseModel]) -> Schema:
    """The structural schema of an API model: its fields under their JSON aliases, formats and enums included."""
    properties: Schema = {}
    required: list[str] = []
    for name, field in model.model_fields.items():
        json_name = field.alias or name
        key = (model.__name__, json_name)
        schema = EMBEDDED_TYPES[key]() if key in EMBEDDED_TYPES else _annotation_schema(field.annotation)
        if isinstance(field.json_schema_extra, dict):
            schema.update(field.json_schema_extra)
        if key in DEFAULTS:
            schema["default"] = DEFAULTS[key]
        if key in NON_NEGATIVE:
            schema["minimum"] = 0
        schema.update(EXTRA_KEYWORDS.get(key, {}))
        properties[json_name] = schema
        if field.is_required():
            required.append(json_name)
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = sorted(required)
    return schema


def mpijob_schema() -> Schema:
    """openAPIV3Schema of an MPIJob."""
    spec = pydantic_model_schema(MPIJobSpec)
    spec["required"] = ["mpiReplicaSpecs"]
    spec["x-kubernetes-validations"] = [MANAGED_BY_IMMUTABLE]
    return {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": pydantic_model_schema(JobStatus),
        },
    }


def crd_manifest() -> dict[str, Any]:
    """The apiextensions.k8s.io/v1 CustomResourceDefinition `mpijobs.kubeflow.org`, as a fresh dict."""
    manifest = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": constants.CRD_NAME},
        "spec": {
            "group": constants.GROUP,
            "names": {
                "kind": constants.KIND,
                "listKind": constants.LIST_KIND,
                "plural": constants.PLURAL,
                "singular": constants.SINGULAR,
                "shortNames": list(constants.SHORT_NAMES),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": constants.VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": mpijob_schema()},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                },
            ],
        },
    }
    # A JSON round trip: plain types, and no node shared between two places (YAML would write anchors).
    return typing.cast(dict[str, Any], json.loads(json.dumps(manifest)))


def crd_yaml() -> str:
    """The CRD as a YAML document with sorted keys, the content of manifests/base/kubeflow.org_mpijobs.yaml."""
    header = "# Generated by `make manifests` (python -m mpi_operator crd). Do not edit by hand.\n---\n"
    return header + yaml.safe_dump(crd_manifest(), sort_keys=True, default_flow_style=False, width=120)
