"""The settings of one write, as a request states them (query parameters) and admission honours them.

`warnings` collects the Warning headers admission produces (e.g. pruned unknown fields); in-process writers (the
simulated cluster, tests) pass none and are trusted: their built-in objects are not pruned.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WriteOptions:
    """Per-request write settings; `warnings` collects Warning headers (e.g. pruned unknown fields)."""

    dry_run: bool = False
    field_validation: str = "Warn"
    field_manager: str = ""
    force: bool = False
    # Prune (and report) unknown fields of built-in kinds: on for HTTP requests, off for trusted in-process writers.
    prune_builtin: bool = False
    warnings: list[str] = field(default_factory=list)
