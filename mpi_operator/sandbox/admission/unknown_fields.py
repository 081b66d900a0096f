"""Unknown fields: pruning for built-in kinds (the official client's generated models as the schema) and the
`fieldValidation` reporting shared with custom resources (Ignore: silent, Warn: Warning header, Strict: 400).

A real API server decodes built-ins into typed structs, so fields it does not know vanish (with a Warning, or a
400 under `fieldValidation=Strict`). The generated models of kubernetes_asyncio carry each kind's JSON field names
and types (`attribute_map`, `openapi_types`); walking them gives the same pruning without hand-written schemas.
Maps, `object`-typed fields (IntOrString, RawExtension, quantities are strings) are not descended into.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from kubernetes_asyncio.client import models

from mpi_operator.sandbox.admission.write_options import WriteOptions
from mpi_operator.sandbox.errors import bad_request

# Storage key -> generated model of the kind (CRDs are left out: JSONSchemaProps has `$ref`-style keys).
MODELS = {
    "pods": "V1Pod", "services": "V1Service", "configmaps": "V1ConfigMap", "secrets": "V1Secret",
    "events": "CoreV1Event", "serviceaccounts": "V1ServiceAccount", "namespaces": "V1Namespace", "nodes": "V1Node",
    "jobs.batch": "V1Job", "leases.coordination.k8s.io": "V1Lease", "events.events.k8s.io": "EventsV1Event",
    "priorityclasses.scheduling.k8s.io": "V1PriorityClass",
}
_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict\((?:str), (.+)\)$|^dict\[str, (.+)\]$")


@functools.cache
def _fields(model: str) -> dict[str, str] | None:
    """JSON field name -> type string of a generated model, or None when the name is no model."""
    cls = getattr(models, model, None)
    if cls is None or not hasattr(cls, "attribute_map"):
        return None
    return {json_name: cls.openapi_types[attr] for attr, json_name in cls.attribute_map.items()}


def prune_builtin(resource_key: str, obj: dict[str, Any]) -> list[str]:
    """Drop the fields of `obj` its kind does not declare, in place; return their paths (`spec.foo`)."""
    model = MODELS.get(resource_key)
    removed: list[str] = []
    if model is not None:
        _prune(obj, model, "", removed)
    return removed


def _prune(value: Any, type_name: str, path: str, removed: list[str]) -> None:
    m = _LIST.match(type_name)
    if m:
        if isinstance(value, list):
            for i, item in enumerate(value):
                _prune(item, m.group(1), f"{path}[{i}]", removed)
        return
    m = _DICT.match(type_name)
    if m:
        if isinstance(value, dict):
            inner = m.group(1) or m.group(2)
            for k, v in value.items():
                _prune(v, inner, f"{path}[{k}]", removed)
        return
    fields = _fields(type_name)
    if fields is None or not isinstance(value, dict):
        return
    for key in list(value):
        child = fields.get(key)
        sub = f"{path}.{key}" if path else key
        if child is None:
            del value[key]
            removed.append(sub)
        else:
            _prune(value[key], child, sub, removed)


def report_unknown(removed: list[str], opts: WriteOptions) -> None:
    """Apply the request's fieldValidation to pruned paths: raise 400 (Strict) or add warnings (Warn)."""
    if not removed:
        return
    names = [p.lstrip(".") for p in removed]
    if opts.field_validation == "Strict":
        raise bad_request("strict decoding error: " + ", ".join(f'unknown field "{n}"' for n in names))
    if opts.field_validation == "Warn":
        opts.warnings.extend(f'unknown field "{n}"' for n in names)
