"""Object-metadata validation shared by every resource: names per kind, labels, finalizers, owner references.

Returns lists of causes (`{reason, message, field}`) so the store can answer one 422 listing all of them, in the
wording apimachinery uses; per-type rules (Job restartPolicy, event message size) live in strategies.py.
"""

from __future__ import annotations

import re
from typing import Any

from mpi_operator.sandbox.errors import bad_request, cause

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                  "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                  "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
              "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
              "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
_DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex "
                "used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")

NAME_RULES = {"namespaces": "label", "services": "dns1035"}


def name_problem(resource_key: str, name: str) -> str | None:
    rule = NAME_RULES.get(resource_key, "subdomain")
    if rule == "label":
        if len(name) > 63:
            return "must be no more than 63 characters"
        return None if _LABEL.match(name) else _LABEL_MSG
    if rule == "dns1035":
        if len(name) > 63:
            return "must be no more than 63 characters"
        return None if _DNS1035.match(name) else _DNS1035_MSG
    if len(name) > 253:
        return "must be no more than 253 characters"
    return None if _SUBDOMAIN.match(name) else _SUBDOMAIN_MSG


def _qualified_name_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        return "prefix part " + _SUBDOMAIN_MSG
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        return ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
                "an alphanumeric character")
    return None


def validate_labels(labels: dict[str, Any], field: str) -> list[dict[str, Any]]:
    """Label keys are qualified names, values at most 63 characters of the label alphabet (or empty)."""
    causes: list[dict[str, Any]] = []
    for key, value in labels.items():
        problem = _qualified_name_problem(str(key))
        if problem:
            causes.append(cause("FieldValueInvalid", f'Invalid value: "{key}": {problem}', field))
        if not isinstance(value, str):
            causes.append(cause("FieldValueTypeInvalid", "Invalid value: must be a string", field))
        elif len(value) > 63:
            causes.append(cause("FieldValueInvalid", f'Invalid value: "{value}": must be no more than 63 characters',
                                field))
        elif not _LABEL_VALUE.match(value):
            causes.append(cause("FieldValueInvalid", f'Invalid value: "{value}": a valid label must be an empty '
                                "string or consist of alphanumeric characters, '-', '_' or '.', and must start and "
                                "end with an alphanumeric character", field))
    return causes


_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def validate_config_keys(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """ConfigMap/Secret data keys: the config-key alphabet, at most 253 characters; total size at most 1 MiB."""
    causes: list[dict[str, Any]] = []
    size = 0
    for field in ("data", "binaryData"):
        for key, value in (obj.get(field) or {}).items():
            size += len(str(value))
            if len(key) > 253 or not _CONFIG_KEY.match(key):
                causes.append(cause("FieldValueInvalid", f'Invalid value: "{key}": a valid config key must consist '
                                    "of alphanumeric characters, '-', '_' or '.'", f"{field}[{key}]"))
    if size > 1024 * 1024:
        causes.append(cause("FieldValueTooLong", "Too long: must have at most 1048576 bytes", "data"))
    return causes


def validate_metadata(resource_key: str, obj: dict[str, Any], field_prefix: str = "metadata") -> list[dict[str, Any]]:
    meta = obj.get("metadata") or {}
    causes: list[dict[str, Any]] = []
    # A real server fails to decode wrongly typed metadata (400); say so before anything trips over it.
    for key, wanted in (("name", str), ("generateName", str), ("labels", dict), ("annotations", dict),
                        ("ownerReferences", list), ("finalizers", list)):
        if meta.get(key) is not None and not isinstance(meta[key], wanted):
            raise bad_request(f"unable to decode the body: metadata.{key} has the wrong JSON type")
    if any(not isinstance(r, dict) for r in meta.get("ownerReferences") or []):
        raise bad_request("unable to decode the body: metadata.ownerReferences items must be objects")
    name = meta.get("name", "")
    if not name:
        causes.append(cause("FieldValueRequired", "Required value: name or generateName is required",
                            f"{field_prefix}.name"))
    else:
        problem = name_problem(resource_key, name)
        if problem:
            causes.append(cause("FieldValueInvalid", f'Invalid value: "{name}": {problem}', f"{field_prefix}.name"))
    causes += validate_labels(meta.get("labels") or {}, f"{field_prefix}.labels")
    annotations = meta.get("annotations") or {}
    if sum(len(str(k)) + len(str(v)) for k, v in annotations.items()) > 256 * 1024:
        causes.append(cause("FieldValueTooLong", "Too long: must have at most 262144 bytes",
                            f"{field_prefix}.annotations"))
    refs = meta.get("ownerReferences") or []
    controllers = 0
    for i, ref in enumerate(refs):
        for required in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(required):
                causes.append(cause("FieldValueRequired", "Required value",
                                    f"{field_prefix}.ownerReferences[{i}].{required}"))
        controllers += 1 if ref.get("controller") else 0
    if controllers > 1:
        causes.append(cause("FieldValueInvalid", "Invalid value: ...: Only one reference can have Controller set "
                            "to true", f"{field_prefix}.ownerReferences"))
    return causes
