"""Patch dispatch: maps a PATCH content type to merge / JSON / strategic / apply semantics.

The algorithms themselves live in the semantics module (patch.py); this file only knows content types and the
server-side-apply floor (apply = create if missing, else JSON-merge the applied object; no managedFields, so
field-ownership conflicts are not detected).
"""

from __future__ import annotations

from typing import Any

from mpi_operator.sandbox.errors import ApiError, bad_request
from mpi_operator.sandbox.wire.patch import PatchError, json_merge_patch, json_patch, strategic_merge_patch

CONTENT_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
KINDS = {"json", "merge", "strategic", "apply"}


def patch_kind(patch_type: str) -> str:
    if patch_type in KINDS:
        return patch_type
    kind = CONTENT_TYPES.get(patch_type.split(";")[0].strip().lower())
    if kind is None:
        raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted "
                       f"media types include: {', '.join(CONTENT_TYPES)}")
    return kind


def apply(kind: str, target: dict[str, Any], patch: Any) -> Any:
    try:
        if kind == "json":
            return json_patch(target, patch)
        if not isinstance(patch, dict):
            raise bad_request("error decoding patch: the patch must be a JSON object")
        if kind == "strategic":
            return strategic_merge_patch(target, patch)
        if kind == "apply":
            patch = {k: v for k, v in patch.items()}
            if isinstance(patch.get("metadata"), dict) and "managedFields" in patch["metadata"]:
                raise bad_request("metadata.managedFields must be nil")
        return json_merge_patch(target, patch)
    except PatchError as e:
        if e.code == 400:
            raise bad_request(e.message) from e
        raise ApiError(422, "Invalid", e.message) from e
