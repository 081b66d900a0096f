"""Minimal stand-in for the semantics helper's table.py (Name + Age columns) until it lands on main.

The server imports `to_table` from here only, so switching is a one-line change; delete this file then.
"""

from __future__ import annotations

import time
from typing import Any


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
