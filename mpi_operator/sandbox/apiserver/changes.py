"""The change record the storage emits for every committed write, shared by the watch log and all subscribers.

A `Change` (what a watch sends as an event: ADDED, MODIFIED, DELETED) is immutable once built; its serialized
watch line is computed at most once however many watchers send it. `object` is the state after the write (for
DELETED: the last state, carrying the deletion's resourceVersion); `old` is the state before, used by filtered
watches to detect enter/leave transitions.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from mpi_operator.sandbox.apiserver.resources import ResourceInfo

ADDED, MODIFIED, DELETED, BOOKMARK, ERROR = "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"


class Change:
    __slots__ = ("_line", "at", "info", "name", "namespace", "object", "old", "rv", "type")

    def __init__(self, type_: str, rv: int, info: ResourceInfo, obj: dict[str, Any],
                 old: dict[str, Any] | None) -> None:
        self.type = type_
        self.rv = rv
        self.info = info
        self.object = obj
        self.old = old
        meta = obj["metadata"]
        self.namespace: str = meta.get("namespace", "")
        self.name: str = meta["name"]
        self.at = time.monotonic()
        self._line: bytes | None = None

    def line(self) -> bytes:
        """`{"type": ..., "object": ...}\\n`, serialized once and shared by every watcher."""
        if self._line is None:
            self._line = orjson.dumps({"type": self.type, "object": self.object}) + b"\n"
        return self._line

    def __repr__(self) -> str:
        return f"Change({self.type} {self.info.key} {self.namespace}/{self.name} rv={self.rv})"
