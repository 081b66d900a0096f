"""The three PATCH bodies the API server accepts: JSON merge (RFC 7386), JSON patch (RFC 6902), strategic merge.

Pure functions: the target is never mutated, a new dict is returned. Failures raise `PatchError` carrying the HTTP
code the server answers with (400 for an undecodable patch, 422 for one that cannot apply). Strategic merge knows
the list strategies of the built-in fields this project touches, keyed by field name (see `_list_strategy`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import jsonpatch


class PatchError(Exception):
    """A patch that cannot be decoded (code 400) or applied (code 422)."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# ---------------------------------------------------------------------------------------------------------------
# RFC 7386 JSON merge patch
# ---------------------------------------------------------------------------------------------------------------


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result: dict[str, Any] = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def json_merge_patch(target: Mapping[str, Any], patch: Any) -> dict[str, Any]:
    """Merge `patch` into a copy of `target`: maps merge recursively, null deletes, lists are replaced."""
    if not isinstance(patch, Mapping):
        raise PatchError("error decoding patch: a JSON merge patch must be a JSON object", 400)
    merged: dict[str, Any] = _merge(copy.deepcopy(dict(target)), patch)
    return merged


# ---------------------------------------------------------------------------------------------------------------
# RFC 6902 JSON patch
# ---------------------------------------------------------------------------------------------------------------


def json_patch(target: Mapping[str, Any], ops: Any) -> dict[str, Any]:
    """Apply a list of RFC 6902 operations in order to a copy of `target`."""
    if not isinstance(ops, list):
        # What kubernetes_asyncio sends for a dict body on custom objects; the real server rejects it too.
        raise PatchError(
            "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp", 400
        )
    for index, op in enumerate(ops):
        if not isinstance(op, Mapping) or not isinstance(op.get("op"), str) or not isinstance(op.get("path"), str):
            raise PatchError(f"error decoding patch: operation {index} needs string 'op' and 'path' members", 400)
    try:
        result = jsonpatch.JsonPatch(ops).apply(copy.deepcopy(dict(target)), in_place=True)
    except jsonpatch.JsonPatchTestFailed as err:
        raise PatchError(f"the server rejected our request due to an error in our request: {err}", 422) from None
    except jsonpatch.InvalidJsonPatch as err:
        raise PatchError(f"error decoding patch: {err}", 400) from None
    except (jsonpatch.JsonPatchConflict, jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as err:
        raise PatchError(f"the server rejected our request due to an error in our request: {err}", 422) from None
    except (TypeError, ValueError, KeyError, IndexError) as err:
        raise PatchError(f"the server rejected our request due to an error in our request: {err}", 422) from None
    if not isinstance(result, dict):
        raise PatchError("the patched document is not a JSON object", 422)
    return result


# ---------------------------------------------------------------------------------------------------------------
# Strategic merge patch (built-in kinds only; the server answers 415 for custom resources before getting here)
# ---------------------------------------------------------------------------------------------------------------

_PATCH = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_FROM = "$deleteFromPrimitiveList/"
_SET_ORDER = "$setElementOrder/"

# patchMergeKey of the list fields of core/v1, batch/v1 and meta/v1 that have patchStrategy "merge".
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "ownerReferences": "uid",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "podIPs": "ip",
    "hostIPs": "ip",
    "resourceClaims": "name",
    "schedulingGates": "name",
    "topologySpreadConstraints": "topologyKey",
}
_CONTAINER_LISTS = frozenset({"containers", "initContainers", "ephemeralContainers"})


def _list_strategy(path: tuple[str, ...]) -> tuple[str, str | None]:
    """('merge', key) for keyed lists, ('merge', None) for merged primitive lists, ('replace', None) otherwise."""
    field = path[-1]
    if field == "ports":
        # Container ports merge by containerPort; Service ports by port.
        return "merge", "containerPort" if len(path) >= 2 and path[-2] in _CONTAINER_LISTS else "port"
    if field == "finalizers" and len(path) >= 2 and path[-2] == "metadata":
        return "merge", None
    if field in _MERGE_KEYS:
        return "merge", _MERGE_KEYS[field]
    return "replace", None


def _is_directive(key: str) -> bool:
    return key in (_PATCH, _RETAIN_KEYS) or key.startswith((_DELETE_FROM, _SET_ORDER))


def _strip(value: Any) -> Any:
    """A patch value stored as-is: drop directive keys and null map entries, the way a fresh merge would."""
    if isinstance(value, Mapping):
        return {k: _strip(v) for k, v in value.items() if not _is_directive(k) and v is not None}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


class _Delete:
    """Marker: the map being merged asked to be removed (`$patch: delete`)."""


_DELETED = _Delete()


def _merge_map(original: Mapping[str, Any], patch: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    directive = patch.get(_PATCH)
    if directive is not None and directive not in ("replace", "delete", "merge"):
        raise PatchError(f"Unknown patch type: {directive} in map: {dict(patch)}", 400)
    if directive == "delete":
        return _DELETED
    if directive == "replace":
        return _strip(patch)
    result: dict[str, Any] = copy.deepcopy(dict(original))

    for key, values in patch.items():
        if key.startswith(_DELETE_FROM):
            field = key[len(_DELETE_FROM):]
            if not isinstance(values, list):
                raise PatchError(f"{key} must be a list", 400)
            if isinstance(result.get(field), list):
                result[field] = [item for item in result[field] if item not in values]

    for key, value in patch.items():
        if _is_directive(key):
            continue
        child_path = (*path, key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping):
            current = result.get(key)
            merged = _merge_map(current if isinstance(current, Mapping) else {}, value, child_path)
            if merged is _DELETED:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            current = result.get(key)
            result[key] = _merge_list(current if isinstance(current, list) else [], value, child_path)
        else:
            result[key] = copy.deepcopy(value)

    for key, order in patch.items():
        if key.startswith(_SET_ORDER):
            field = key[len(_SET_ORDER):]
            if isinstance(result.get(field), list) and isinstance(order, list):
                result[field] = _apply_order(result[field], order, _list_strategy((*path, field))[1])

    retain = patch.get(_RETAIN_KEYS)
    if retain is not None:
        if not isinstance(retain, list):
            raise PatchError(f"{_RETAIN_KEYS} must be a list", 400)
        unknown = [k for k in patch if not _is_directive(k) and k not in retain]
        if unknown:
            raise PatchError(f"doesn't match $retainKeys: {unknown} are not in {retain}", 400)
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(original: list[Any], patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    strategy, merge_key = _list_strategy(path)
    if strategy == "replace":
        return [_strip(item) for item in patch]
    if merge_key is None:
        merged = list(original)
        merged.extend(copy.deepcopy(item) for item in patch if item not in merged)
        return merged

    if any(isinstance(item, Mapping) and item.get(_PATCH) == "replace" for item in patch):
        return [_strip(item) for item in patch if not (isinstance(item, Mapping) and item.get(_PATCH) == "replace")]
    result = [copy.deepcopy(item) for item in original]
    for item in patch:
        if not isinstance(item, Mapping):
            raise PatchError(f"list {'.'.join(path)} merges by {merge_key}: its elements must be objects", 400)
        if merge_key not in item:
            raise PatchError(f"map: {dict(item)} does not contain declared merge key: {merge_key}", 400)
        key_value = item[merge_key]
        index = next(
            (i for i, old in enumerate(result) if isinstance(old, Mapping) and old.get(merge_key) == key_value), None
        )
        if item.get(_PATCH) == "delete":
            result = [old for old in result if not (isinstance(old, Mapping) and old.get(merge_key) == key_value)]
            continue
        merged = _merge_map(result[index] if index is not None else {}, item, path)
        if merged is _DELETED:
            continue
        if index is None:
            result.append(merged)
        else:
            result[index] = merged
    return result


def _apply_order(items: list[Any], order: list[Any], merge_key: str | None) -> list[Any]:
    """Put the elements `$setElementOrder` names first, in its order; the rest keep their relative order."""

    def identity(item: Any) -> Any:
        return item.get(merge_key) if merge_key and isinstance(item, Mapping) else item

    wanted = [identity(entry) for entry in order]
    ranked = sorted(
        enumerate(items),
        key=lambda pair: (wanted.index(identity(pair[1])) if identity(pair[1]) in wanted else len(wanted), pair[0]),
    )
    return [item for _, item in ranked]


def strategic_merge_patch(target: Mapping[str, Any], patch: Any) -> dict[str, Any]:
    """Apply a Kubernetes strategic merge patch to a copy of a built-in object."""
    if not isinstance(patch, Mapping):
        raise PatchError("error decoding patch: a strategic merge patch must be a JSON object", 400)
    merged = _merge_map(target, patch, ())
    if not isinstance(merged, dict):
        raise PatchError("a strategic merge patch cannot delete the whole object", 422)
    return merged
