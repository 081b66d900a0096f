"""Minimal stand-ins for the semantics modules (selectors, patch, table) until they land on main.

Deliberately small: the server imports these names from here only, so switching to the real modules is a
one-line change per name. Delete this file once selectors.py, patch.py and table.py are merged.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import jsonpatch


class SelectorError(ValueError):
    pass


class PatchError(ValueError):
    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.code = code


_REQ = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*"
                  r"(?:(==|=|!=|>|<)\s*([A-Za-z0-9._-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


class LabelSelector:
    def __init__(self, reqs: list[tuple[str, str, tuple[str, ...]]]) -> None:
        self.reqs = reqs

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        for key, op, values in self.reqs:
            present = key in labels
            v = labels.get(key)
            if op == "exists" and not present:
                return False
            if op == "!" and present:
                return False
            if op == "in" and v not in values:
                return False
            if op == "notin" and v in values:
                return False
            if op in (">", "<"):
                try:
                    n = int(v or "")
                except ValueError:
                    return False
                if (op == ">" and not n > int(values[0])) or (op == "<" and not n < int(values[0])):
                    return False
        return True

    def empty(self) -> bool:
        return not self.reqs


def _split_top(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for p in parts if p.strip()]


def parse_label_selector(text: str) -> LabelSelector:
    reqs: list[tuple[str, str, tuple[str, ...]]] = []
    for part in _split_top(text):
        m = _REQ.match(part)
        if not m:
            raise SelectorError(f"unable to parse requirement: {part!r}")
        neg, key, op, val, setop, setvals = m.groups()
        if neg:
            if op or setop:
                raise SelectorError(f"unable to parse requirement: {part!r}")
            reqs.append((key, "!", ()))
        elif op in ("=", "=="):
            reqs.append((key, "in", (val,)))
        elif op == "!=":
            reqs.append((key, "notin", (val,)))
        elif op in (">", "<"):
            reqs.append((key, op, (val,)))
        elif setop:
            reqs.append((key, setop, tuple(v.strip() for v in setvals.split(","))))
        else:
            reqs.append((key, "exists", ()))
    return LabelSelector(reqs)


def label_selector_from_dict(d: Mapping[str, Any] | None) -> LabelSelector:
    reqs: list[tuple[str, str, tuple[str, ...]]] = []
    for k, v in ((d or {}).get("matchLabels") or {}).items():
        reqs.append((k, "in", (v,)))
    for e in (d or {}).get("matchExpressions") or []:
        op = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}[e["operator"]]
        reqs.append((e["key"], op, tuple(e.get("values") or ())))
    return LabelSelector(reqs)


class FieldSelector:
    def __init__(self, reqs: list[tuple[str, bool, str]]) -> None:
        self.reqs = reqs

    def matches(self, obj: Mapping[str, Any]) -> bool:
        for path, eq, value in self.reqs:
            node: Any = obj
            for k in path.split("."):
                node = node.get(k) if isinstance(node, Mapping) else None
            text = "" if node is None else (str(node).lower() if isinstance(node, bool) else str(node))
            if (text == value) != eq:
                return False
        return True

    def empty(self) -> bool:
        return not self.reqs


def parse_field_selector(text: str, resource: str, extra_fields: tuple[str, ...] = ()) -> FieldSelector:
    from mpi_operator.sandbox.resources import EVENT_FIELDS, POD_FIELDS

    allowed = {"metadata.name", "metadata.namespace", *extra_fields}
    allowed |= set({"pods": POD_FIELDS, "events": EVENT_FIELDS, "jobs": ("status.successful",),
                    "namespaces": ("status.phase",), "secrets": ("type",)}.get(resource, ()))
    reqs = []
    for part in text.split(","):
        if not part.strip():
            continue
        m = re.match(r"^([^=!]+)(==|=|!=)(.*)$", part)
        if not m:
            raise SelectorError(f"invalid selector: '{part}'")
        field = m.group(1).strip()
        if field not in allowed:
            raise SelectorError(f'"{field}" is not a known field selector: only "metadata.name", "metadata.namespace"')
        reqs.append((field.replace("source", "source.component") if field == "source" else field,
                     m.group(2) != "!=", m.group(3)))
    return FieldSelector(reqs)


def json_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = json_merge_patch(out.get(k), v)
    return out


def json_patch(target: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch", 400)
    try:
        return jsonpatch.apply_patch(target, ops, in_place=False)
    except jsonpatch.JsonPatchConflict as e:
        raise PatchError(str(e), 422) from e
    except jsonpatch.JsonPatchTestFailed as e:
        raise PatchError(f"testing value failed: {e}", 422) from e
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
        raise PatchError(str(e), 422) from e


_MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
               "volumes": "name", "imagePullSecrets": "name", "ports": "containerPort", "volumeMounts": "mountPath",
               "conditions": "type", "ownerReferences": "uid"}


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    if patch.get("$patch") == "replace":
        return {k: v for k, v in patch.items() if k != "$patch"}
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            out[field] = [x for x in out.get(field) or [] if x not in v]
            continue
        if k.startswith("$"):
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list) and k in _MERGE_KEYS and isinstance(out.get(k), list):
            mk = _MERGE_KEYS[k]
            merged = list(out[k])
            for item in v:
                idx = next((i for i, x in enumerate(merged) if isinstance(x, dict) and isinstance(item, dict)
                            and x.get(mk) == item.get(mk)), None)
                if isinstance(item, dict) and item.get("$patch") == "delete":
                    if idx is not None:
                        merged.pop(idx)
                elif idx is None:
                    merged.append(item)
                else:
                    merged[idx] = strategic_merge_patch(merged[idx], item)
            out[k] = merged
        elif isinstance(v, list) and k == "finalizers" and isinstance(out.get(k), list):
            out[k] = list(out[k]) + [x for x in v if x not in out[k]]
        else:
            out[k] = strategic_merge_patch(out.get(k), v)
    return out


def _age(ts: str | None) -> str:
    if not ts:
        return "<unknown>"
    secs = max(0, int(time.time() - time.mktime(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")) + time.timezone))
    if secs < 120:
        return f"{secs}s"
    if secs < 3600 * 3:
        return f"{secs // 60}m"
    return f"{secs // 3600}h"


def to_table(resource: str, items: list[dict[str, Any]], printer_columns: list[dict[str, Any]] | None,
             with_definitions: bool) -> dict[str, Any]:
    table: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}}
    if with_definitions:
        table["columnDefinitions"] = [
            {"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0},
            {"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0}]
    table["rows"] = [{"cells": [o["metadata"]["name"], _age(o["metadata"].get("creationTimestamp"))],
                      "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                 "metadata": o["metadata"]}} for o in items]
    return table
