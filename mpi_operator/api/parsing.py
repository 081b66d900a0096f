"""Turning a raw MPIJob document (plain JSON-like data) into the typed model, reporting problems as field errors.

Invariant: `parse_mpijob` never raises. Type errors (pydantic's) come back as FieldErrors with Kubernetes
paths (`spec.mpiReplicaSpecs[Worker].replicas: Invalid value: "abc": must be an integer`). Parsing is
strict, like the API server's schema check: "3" is not an integer and "yes" is not a boolean.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from mpi_operator.api.constants import API_VERSION, KIND
from mpi_operator.api.field_errors import FieldError
from mpi_operator.api.types import MPIJob

# JSON names of fields holding maps: the next path element is a key, rendered `[key]`.
_MAP_FIELDS = frozenset({"mpiReplicaSpecs", "replicaStatuses", "minResources"})
# Maps whose values are quantities (int or string); pydantic reports one error per union member.
_QUANTITY_MAPS = frozenset({"minResources"})

_TYPE_DETAILS = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "bool_type": "must be a boolean",
    "bool_parsing": "must be a boolean",
    "string_type": "must be a string",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "list_type": "must be an array",
}


def parse_mpijob(doc: Any) -> tuple[MPIJob | None, list[FieldError]]:
    """The typed MPIJob of `doc` and the problems found on the way.

    Returns (None, errors) when `doc` does not have the shape of an MPIJob; otherwise the job, with errors
    for a wrong apiVersion/kind (checked only when present) or malformed pod templates.
    """
    if not isinstance(doc, dict):
        return None, [FieldError.invalid("", _shown(doc), "an MPIJob must be an object")]
    try:
        job = MPIJob.model_validate(doc, strict=True)
    except ValidationError as exc:
        return None, _field_errors(exc.errors())
    errors = _identity_errors(doc)
    errors += _metadata_errors(job.metadata)
    for replica_type, replica in (job.spec.mpi_replica_specs or {}).items():
        errors += _template_errors(replica.template, f"spec.mpiReplicaSpecs[{replica_type}].template")
    return job, errors


def _identity_errors(doc: dict[str, Any]) -> list[FieldError]:
    errors = []
    kind = doc.get("kind")
    if kind is not None and kind != KIND:
        errors.append(FieldError.not_supported("kind", kind, [KIND]))
    api_version = doc.get("apiVersion")
    if api_version is not None and api_version != API_VERSION:
        errors.append(FieldError.not_supported("apiVersion", api_version, [API_VERSION]))
    return errors


def _metadata_errors(metadata: dict[str, Any]) -> list[FieldError]:
    errors = []
    for key in ("name", "namespace", "generateName"):
        value = metadata.get(key)
        if value is not None and not isinstance(value, str):
            errors.append(FieldError.invalid(f"metadata.{key}", _shown(value), "must be a string"))
    for key in ("labels", "annotations"):
        value = metadata.get(key)
        if value is not None and not isinstance(value, dict):
            errors.append(FieldError.invalid(f"metadata.{key}", _shown(value), "must be an object"))
    return errors


def _template_errors(template: dict[str, Any], path: str) -> list[FieldError]:
    # Only the shape the operator relies on; the pod spec itself is the API server's to check.
    errors = []
    for key in ("metadata", "spec"):
        value = template.get(key)
        if value is not None and not isinstance(value, dict):
            errors.append(FieldError.invalid(f"{path}.{key}", _shown(value), "must be an object"))
    pod_spec = template.get("spec")
    containers = pod_spec.get("containers") if isinstance(pod_spec, dict) else None
    if containers is None:
        return errors
    containers_path = f"{path}.spec.containers"
    if not isinstance(containers, list):
        return [*errors, FieldError.invalid(containers_path, _shown(containers), "must be an array")]
    for index, container in enumerate(containers):
        if not isinstance(container, dict):
            errors.append(FieldError.invalid(f"{containers_path}[{index}]", _shown(container), "must be an object"))
    return errors


def _field_errors(details: Sequence[ErrorDetails]) -> list[FieldError]:
    errors: dict[str, FieldError] = {}
    for detail in details:
        path, in_quantity = _path(detail["loc"])
        error = _field_error(detail, path, in_quantity)
        errors.setdefault(str(error), error)
    return list(errors.values())


def _field_error(detail: ErrorDetails, path: str, in_quantity: bool) -> FieldError:
    kind = detail["type"]
    value = _shown(detail["input"])
    if kind == "missing":
        return FieldError.required(path)
    if detail["loc"] and detail["loc"][-1] == "[key]":
        return FieldError.invalid(path, value, "keys must be strings")
    if in_quantity:
        return FieldError.invalid(path, value, "must be a quantity (an integer or a string)")
    message = _TYPE_DETAILS.get(kind) or detail["msg"][:1].lower() + detail["msg"][1:]
    return FieldError.invalid(path, value, message)


def _path(loc: tuple[int | str, ...]) -> tuple[str, bool]:
    """A pydantic location as a Kubernetes field path, and whether it points into a quantity map value."""
    path = ""
    key_next = False
    quantity_map = False
    for element in loc:
        if element == "[key]":
            continue
        if key_next or isinstance(element, int):
            path += f"[{element}]"
            if key_next and quantity_map:
                return path, True  # what follows is pydantic's union-member tag, not a field
            key_next = False
            continue
        path += f".{element}" if path else str(element)
        key_next = element in _MAP_FIELDS
        quantity_map = element in _QUANTITY_MAPS
    return path, False


def _shown(value: Any) -> Any:
    """How a bad value appears in a message: scalars as themselves, objects and arrays by their JSON type
    (like the API server's schema errors), so one wrong template does not flood the message."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return value
