"""JSON merge patch (RFC 7386) computed as the difference of two documents.

`merge_patch(old, new)` applied to `old` gives `new`: changed keys carry their new value, removed keys carry
null, nested objects recurse, lists are replaced whole. Used to write only what changed.
"""

from __future__ import annotations

from typing import Any


def merge_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        before = old.get(key, _MISSING)
        if before == value:
            continue
        if isinstance(before, dict) and isinstance(value, dict) and value:
            patch[key] = merge_patch(before, value)
        else:
            # An empty object replaces via null-then-set semantics: send {} only if it was absent or not a dict;
            # otherwise clear each old key so the result is exactly {}.
            if isinstance(before, dict) and isinstance(value, dict):
                patch[key] = {k: None for k in before}
            else:
                patch[key] = value
    return patch


_MISSING = object()
