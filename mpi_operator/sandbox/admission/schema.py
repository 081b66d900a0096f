"""Structural OpenAPI v3 schemas of CRDs: defaulting, pruning and validation of custom resources.

What the apiextensions server does on every write, as pure functions over plain dicts: `apply_schema_defaults`
and `prune_unknown_fields` change the object in place; `validate_against_schema` only reads it and returns
Kubernetes StatusCause dicts (`reason`, `message`, `field`) whose texts follow the real server's wording.
Field paths read as the real server's do: `spec.containers[0].name`, map entries `spec.mpiReplicaSpecs.Worker`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

Schema = Mapping[str, Any]
Cause = dict[str, str]

PRESERVE = "x-kubernetes-preserve-unknown-fields"
EMBEDDED = "x-kubernetes-embedded-resource"
INT_OR_STRING = "x-kubernetes-int-or-string"

# ObjectMeta's JSON fields: the only keys that survive in a custom resource's root metadata.
OBJECT_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers",
    "managedFields",
})


def child_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def index_path(path: str, index: int) -> str:
    return f"{path}[{index}]"


def key_path(path: str, key: str) -> str:
    return f"{path}[{key}]"


def property_schema(schema: Schema, key: str) -> Schema | None:
    """The schema governing `key` of an object node: a declared property, else additionalProperties."""
    props = schema.get("properties") or {}
    if key in props:
        prop: Schema = props[key]
        return prop
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        return extra
    return None


# ---------------------------------------------------------------------------------------------------------------
# Defaulting
# ---------------------------------------------------------------------------------------------------------------


def apply_schema_defaults(obj: Any, schema: Schema) -> None:
    """Fill absent (or non-nullable null) fields with their schema `default`, top-down, in place.

    A default nested under `spec.x` applies only once `spec` exists; defaulted values are themselves walked, so
    defaults inside a defaulted object apply too. Non-nullable nulls without a default are dropped first, as the
    real server's decoder does."""
    if isinstance(obj, dict):
        props: Mapping[str, Schema] = schema.get("properties") or {}
        for key, prop in props.items():
            if obj.get(key, 0) is None and not prop.get("nullable") and "default" not in prop:
                del obj[key]
            elif "default" in prop and (key not in obj or (obj[key] is None and not prop.get("nullable"))):
                obj[key] = copy.deepcopy(prop["default"])
        extra = schema.get("additionalProperties")
        for key in list(obj):
            sub = property_schema(schema, key)
            if sub is None:
                continue
            if obj[key] is None and key not in props and isinstance(extra, Mapping) and not extra.get("nullable"):
                del obj[key]
                continue
            apply_schema_defaults(obj[key], sub)
    elif isinstance(obj, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for item in obj:
                apply_schema_defaults(item, items)


# ---------------------------------------------------------------------------------------------------------------
# Pruning
# ---------------------------------------------------------------------------------------------------------------


def prune_unknown_fields(obj: dict[str, Any], schema: Schema) -> list[str]:
    """Drop every field the schema does not declare, in place; return the dropped paths (`.spec.foo`).

    At the root, `apiVersion`, `kind` and `metadata` always stay; inside the root metadata only ObjectMeta's
    fields survive. `x-kubernetes-preserve-unknown-fields` keeps unknown keys below its node (nested declared
    properties are still pruned); embedded resources keep their `apiVersion`, `kind` and `metadata`."""
    removed: list[str] = []
    for key in list(obj):
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata":
            meta = obj["metadata"]
            if isinstance(meta, dict):
                for meta_key in [k for k in meta if k not in OBJECT_META_FIELDS]:
                    del meta[meta_key]
                    removed.append(f".metadata.{meta_key}")
            continue
        _prune_key(obj, key, schema, "", removed)
    return removed


def _prune_key(node: dict[str, Any], key: str, schema: Schema, path: str, removed: list[str]) -> None:
    sub = property_schema(schema, key)
    here = f"{path}.{key}"
    if sub is not None:
        _prune(node[key], sub, here, removed)
    elif not schema.get(PRESERVE):
        del node[key]
        removed.append(here)


def _prune(value: Any, schema: Schema, path: str, removed: list[str]) -> None:
    if isinstance(value, dict):
        embedded = bool(schema.get(EMBEDDED))
        for key in list(value):
            if embedded and key in ("apiVersion", "kind", "metadata") and key not in (schema.get("properties") or {}):
                continue
            _prune_key(value, key, schema, path, removed)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for index, item in enumerate(value):
                _prune(item, items, f"{path}[{index}]", removed)


# ---------------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------------


def render_value(value: Any) -> str:
    """A value as apimachinery's field.Error prints it: strings quoted, scalars bare, the rest as JSON."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _number(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def cause(reason: str, field: str, message: str) -> Cause:
    return {"reason": reason, "message": message, "field": field}


def invalid(field: str, value: Any, detail: str) -> Cause:
    return cause("FieldValueInvalid", field, f"Invalid value: {render_value(value)}: {detail}")


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_matches(value: Any, wanted: str) -> bool:
    have = json_type(value)
    if wanted == "number":
        return have in ("integer", "number")
    if wanted == "integer":
        return have == "integer" or (have == "number" and float(value).is_integer())
    return have == wanted


def validate_against_schema(obj: Any, schema: Schema) -> list[Cause]:
    """Check `obj` against the OpenAPI keywords of a structural schema; return one cause per violation.

    The root's `metadata` is not checked here (ObjectMeta validation is the server's generic part)."""
    causes: list[Cause] = []
    if isinstance(obj, Mapping):
        _check_object(obj, schema, "", causes, root=True)
    else:
        _check(obj, schema, "", causes)
    return causes


def _in_body(path: str) -> str:
    return f"{path or 'body'} in body"


def _check(value: Any, schema: Schema, path: str, causes: list[Cause]) -> None:
    if value is None:
        if schema.get("nullable"):
            return
        if schema.get("type") or schema.get(INT_OR_STRING):
            wanted = "integer,string" if schema.get(INT_OR_STRING) else schema["type"]
            message = f'Invalid value: "null": {_in_body(path)} must be of type {wanted}: "null"'
            causes.append(cause("FieldValueTypeInvalid", path, message))
        return
    if schema.get(INT_OR_STRING):
        if json_type(value) not in ("integer", "string"):
            have = json_type(value)
            causes.append(cause("FieldValueTypeInvalid", path,
                                f'Invalid value: "{have}": {_in_body(path)} must be of type integer,string: "{have}"'))
            return
    elif schema.get("type") and not _type_matches(value, schema["type"]):
        have = json_type(value)
        causes.append(cause("FieldValueTypeInvalid", path,
                            f'Invalid value: "{have}": {_in_body(path)} must be of type {schema["type"]}: "{have}"'))
        return

    _check_enum(value, schema, path, causes)
    if isinstance(value, str):
        _check_string(value, schema, path, causes)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(value, schema, path, causes)
    elif isinstance(value, list):
        _check_array(value, schema, path, causes)
    elif isinstance(value, Mapping):
        _check_object(value, schema, path, causes, root=False)
    _check_combinators(value, schema, path, causes)


def _check_enum(value: Any, schema: Schema, path: str, causes: list[Cause]) -> None:
    enum = schema.get("enum")
    if enum is None or value in enum:
        return
    supported = ", ".join(json.dumps(v) for v in enum)
    causes.append(cause("FieldValueNotSupported", path,
                        f"Unsupported value: {render_value(value)}: supported values: {supported}"))


def _check_string(value: str, schema: Schema, path: str, causes: list[Cause]) -> None:
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        causes.append(cause("FieldValueTooLong", path, f"Too long: may not be more than {schema['maxLength']} bytes"))
    if "minLength" in schema and len(value) < schema["minLength"]:
        causes.append(invalid(path, value, f"{_in_body(path)} should be at least {schema['minLength']} chars long"))
    pattern = schema.get("pattern")
    if pattern is not None:
        try:
            matched = re.search(pattern, value) is not None
        except re.error:
            matched = True  # a pattern Python cannot compile is the CRD author's problem, not this object's
        if not matched:
            causes.append(invalid(path, value, f"{_in_body(path)} should match '{pattern}'"))


def _check_number(value: float, schema: Schema, path: str, causes: list[Cause]) -> None:
    if "minimum" in schema:
        low = schema["minimum"]
        if schema.get("exclusiveMinimum") and value <= low:
            causes.append(invalid(path, value, f"{_in_body(path)} should be greater than {_number(low)}"))
        elif value < low:
            causes.append(invalid(path, value, f"{_in_body(path)} should be greater than or equal to {_number(low)}"))
    if "maximum" in schema:
        high = schema["maximum"]
        if schema.get("exclusiveMaximum") and value >= high:
            causes.append(invalid(path, value, f"{_in_body(path)} should be less than {_number(high)}"))
        elif value > high:
            causes.append(invalid(path, value, f"{_in_body(path)} should be less than or equal to {_number(high)}"))
    step = schema.get("multipleOf")
    if step and (value / step) != int(value / step):
        causes.append(invalid(path, value, f"{_in_body(path)} should be a multiple of {_number(step)}"))
    fmt = schema.get("format")
    if fmt in ("int32", "int64") and isinstance(value, int):
        bits = 31 if fmt == "int32" else 63
        if not -(2**bits) <= value < 2**bits:
            causes.append(invalid(path, value, f"{_in_body(path)} must be of type {fmt}"))


def _check_array(value: list[Any], schema: Schema, path: str, causes: list[Cause]) -> None:
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        causes.append(cause("FieldValueTooMany", path,
                            f"Too many: {len(value)}: must have at most {schema['maxItems']} items"))
    if "minItems" in schema and len(value) < schema["minItems"]:
        causes.append(invalid(path, len(value), f"{_in_body(path)} should have at least {schema['minItems']} items"))
    items = schema.get("items")
    if isinstance(items, Mapping):
        for index, item in enumerate(value):
            _check(item, items, index_path(path, index), causes)
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        _check_unique(path, ((i, json.dumps(v, sort_keys=True), v) for i, v in enumerate(value)), causes)
    elif list_type == "map":
        keys: list[str] = list(schema.get("x-kubernetes-list-map-keys") or [])
        identities = (
            (i, json.dumps({k: v.get(k) for k in keys}, sort_keys=True), {k: v.get(k) for k in keys if k in v})
            for i, v in enumerate(value)
            if isinstance(v, Mapping)
        )
        _check_unique(path, identities, causes)


def _check_unique(path: str, entries: Iterator[tuple[int, str, Any]], causes: list[Cause]) -> None:
    seen: set[str] = set()
    for index, identity, shown in entries:
        if identity in seen:
            causes.append(cause("FieldValueDuplicate", index_path(path, index),
                                f"Duplicate value: {render_value(shown)}"))
        seen.add(identity)


def _check_object(value: Mapping[str, Any], schema: Schema, path: str, causes: list[Cause], root: bool) -> None:
    for name in schema.get("required") or []:
        if name not in value:
            causes.append(cause("FieldValueRequired", child_path(path, name), "Required value"))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        causes.append(cause("FieldValueTooMany", path,
                            f"Too many: {len(value)}: must have at most {schema['maxProperties']} items"))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        causes.append(invalid(path, len(value),
                              f"{_in_body(path)} should have at least {schema['minProperties']} properties"))
    props: Mapping[str, Schema] = schema.get("properties") or {}
    for key, item in value.items():
        if root and key == "metadata":
            continue
        if key in props:
            _check(item, props[key], child_path(path, key), causes)
        elif isinstance(schema.get("additionalProperties"), Mapping):
            # kube-openapi names additionalProperties entries with a dot, unlike field.Path's `[key]`.
            _check(item, schema["additionalProperties"], child_path(path, key), causes)


def _check_combinators(value: Any, schema: Schema, path: str, causes: list[Cause]) -> None:
    """allOf/anyOf/oneOf/not value validations (int-or-string's anyOf is already handled by its type check)."""
    for sub in schema.get("allOf") or []:
        _check(value, sub, path, causes)
    any_of = schema.get("anyOf") if not schema.get(INT_OR_STRING) else None
    if any_of and not any(not _sub_causes(value, sub, path) for sub in any_of):
        causes.append(invalid(path, value, f"{_in_body(path)} must validate at least one schema (anyOf)"))
    if schema.get("oneOf"):
        passing = sum(1 for sub in schema["oneOf"] if not _sub_causes(value, sub, path))
        if passing != 1:
            causes.append(invalid(path, value, f"{_in_body(path)} must validate one and only one schema (oneOf)"))
    if isinstance(schema.get("not"), Mapping) and not _sub_causes(value, schema["not"], path):
        causes.append(invalid(path, value, f"{_in_body(path)} must not validate the schema (not)"))


def _sub_causes(value: Any, schema: Schema, path: str) -> list[Cause]:
    found: list[Cause] = []
    _check(value, schema, path, found)
    return found
